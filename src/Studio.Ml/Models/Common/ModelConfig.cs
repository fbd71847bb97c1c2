using System.Text.Json;
using System.Text.Json.Nodes;

namespace Studio.Ml.Models.Common;

/// <summary>
/// Typed access to a model's config.json (diffusers or transformers). Every error names the file and the field, so a
/// wrong or hand-edited config says exactly what is at fault.
/// </summary>
public sealed class ModelConfig
{
    readonly JsonObject _json;

    /// <summary>Where the config came from (a path, or a description), used in error messages.</summary>
    public string Source { get; }

    public ModelConfig(JsonObject json, string source)
    {
        _json = json;
        Source = source;
    }

    static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such config file", path);
        var bytes = File.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new InvalidDataException($"{path}: not valid UTF-8 text");
        // A byte order mark is UTF-8 too (Windows editors write one); the JSON parser does not skip it on bytes.
        var json = bytes.AsSpan();
        if (json.StartsWith(Utf8Bom)) json = json[Utf8Bom.Length..];
        try
        {
            return new ModelConfig(JsonNode.Parse(json) as JsonObject
                ?? throw new InvalidDataException($"{path}: not a JSON object"), path);
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
    }

    public bool Has(string field) => _json[field] is not null;

    public int Int(string field) => Read<int>(field, JsonValueKind.Number, "an integer");
    public int Int(string field, int fallback) => Has(field) ? Int(field) : fallback;

    public double Double(string field) => Read<double>(field, JsonValueKind.Number, "a number");
    public double Double(string field, double fallback) => Has(field) ? Double(field) : fallback;
    /// <summary>A number, or null when the field is absent or JSON null.</summary>
    public double? OptionalDouble(string field) => Has(field) ? Double(field) : null;

    public bool Bool(string field) => _json[field]?.GetValueKind() switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        null => throw Invalid(field, "is missing"),
        _ => throw Invalid(field, $"must be true or false, found {_json[field]!.ToJsonString()}"),
    };
    public bool Bool(string field, bool fallback) => Has(field) ? Bool(field) : fallback;

    public string String(string field) => Read<string>(field, JsonValueKind.String, "a string");
    /// <summary>A string, or null when the field is absent or JSON null.</summary>
    public string? OptionalString(string field) => Has(field) ? String(field) : null;

    public int[] IntArray(string field) => Array<int>(field, JsonValueKind.Number, "integers");
    public int[] IntArray(string field, int[] fallback) => Has(field) ? IntArray(field) : fallback;
    public double[] DoubleArray(string field) => Array<double>(field, JsonValueKind.Number, "numbers");
    public string[] StringArray(string field) => Array<string>(field, JsonValueKind.String, "strings");

    /// <summary>A nested object (e.g. the `student` part of a composite config), with errors naming both.</summary>
    public ModelConfig Section(string field) => _json[field] switch
    {
        JsonObject section => new ModelConfig(section, $"{Source} ({field})"),
        null => throw Invalid(field, "is missing"),
        var node => throw Invalid(field, $"must be an object, found {node.ToJsonString()}"),
    };

    /// <summary>An error about one field, for checks the typed getters cannot make (ranges, supported values).</summary>
    public InvalidDataException Invalid(string field, string problem) => new($"{Source}: field '{field}' {problem}");

    T Read<T>(string field, JsonValueKind kind, string expected)
    {
        var node = _json[field] ?? throw Invalid(field, "is missing");
        return TryConvert<T>(node, kind, out var value) ? value : throw Invalid(field, $"must be {expected}, found {node.ToJsonString()}");
    }

    T[] Array<T>(string field, JsonValueKind kind, string expected)
    {
        var node = _json[field] ?? throw Invalid(field, "is missing");
        if (node is not JsonArray items) throw Invalid(field, $"must be a list of {expected}, found {node.ToJsonString()}");
        return items.Select((item, i) => TryConvert<T>(item, kind, out var value)
            ? value
            : throw Invalid(field, $"must be a list of {expected}; item {i} is {item?.ToJsonString() ?? "null"}")).ToArray();
    }

    static bool TryConvert<T>(JsonNode? node, JsonValueKind kind, out T value)
    {
        value = default!;
        return node is JsonValue v && v.GetValueKind() == kind && v.TryGetValue(out value!);
    }
}
