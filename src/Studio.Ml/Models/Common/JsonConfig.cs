using System.Text.Json;
using System.Text.Json.Nodes;

namespace Studio.Ml.Models.Common;

/// <summary>
/// Typed reads from a Hugging Face / diffusers config.json. A missing or mistyped field is reported with the file and
/// the field name; optional fields take the default of the Python class they configure.
/// </summary>
public sealed class JsonConfig
{
    readonly JsonObject _json;

    /// <summary>Where the config came from, for messages.</summary>
    public string Source { get; }

    public JsonConfig(JsonObject json, string source)
    {
        _json = json;
        Source = source;
    }

    public static JsonConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config file not found", path);
        try
        {
            return new JsonConfig(JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"{path}: not a JSON object"), path);
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
    }

    public bool Has(string key) => _json[key] is not null;

    public int Int(string key, int? fallback = null) =>
        Read(key, n => n.GetValue<int>(), "an integer") ?? fallback ?? throw Missing(key);

    public double Double(string key, double? fallback = null) =>
        Read(key, n => n.GetValue<double>(), "a number") ?? fallback ?? throw Missing(key);

    public bool Bool(string key, bool? fallback = null) =>
        Read(key, n => n.GetValue<bool>(), "true or false") ?? fallback ?? throw Missing(key);

    public string String(string key, string? fallback = null) =>
        ReadObject(key, n => n.GetValue<string>(), "a string") ?? fallback ?? throw Missing(key);

    public int[] IntArray(string key, int[]? fallback = null) =>
        ReadObject(key, n => n.AsArray().Select(x => x!.GetValue<int>()).ToArray(), "a list of integers") ?? fallback ?? throw Missing(key);

    InvalidDataException Missing(string key) => new($"{Source}: required field '{key}' is missing");

    T? Read<T>(string key, Func<JsonNode, T> read, string expected) where T : struct =>
        _json[key] is { } node ? Convert(key, node, read, expected) : null;

    T? ReadObject<T>(string key, Func<JsonNode, T> read, string expected) where T : class =>
        _json[key] is { } node ? Convert(key, node, read, expected) : null;

    T Convert<T>(string key, JsonNode node, Func<JsonNode, T> read, string expected)
    {
        try { return read(node); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new InvalidDataException($"{Source}: field '{key}' should be {expected}, found {node.ToJsonString()}");
        }
    }
}
