using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Studio.Web.Api;

/// <summary>
/// Reads a request's JSON body into a request record. A body that is not JSON, is not an object, names an unknown
/// field or gives a field a value of the wrong kind is answered 400 with what is wrong in plain words ("body: not JSON
/// at line 1 position 3", "field 'steps': expected a whole number"), never an empty 400 or a .NET type name.
/// </summary>
public static class JsonBody
{
    /// <summary>The largest body read: run YAML up to 1 MiB, escaped.</summary>
    public const int MaxBytes = 4 << 20;

    static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        RespectNullableAnnotations = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The body as <typeparamref name="T"/>, or the 400 (413) that says why not; an empty body is null when <paramref name="optional"/>.</summary>
    public static async Task<(T? Value, IResult? Refusal)> ReadAsync<T>(HttpRequest request, bool optional, CancellationToken ct) where T : class
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxBytes)
                return (null, Results.Json(new { error = $"body: larger than the limit of {MaxBytes:N0} bytes" }, statusCode: StatusCodes.Status413PayloadTooLarge));
            buffer.Write(chunk, 0, read);
        }
        var fields = string.Join(", ", Fields(typeof(T)).Keys);
        if (buffer.Length == 0 || buffer.ToArray().All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            return optional ? (null, null) : (null, Refuse($"body: empty; expected a JSON object with {fields}"));

        JsonDocument document;
        try { document = JsonDocument.Parse(buffer.ToArray()); }
        catch (JsonException e) { return (null, Refuse($"body: not JSON at line {e.LineNumber + 1} position {e.BytePositionInLine + 1}")); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                return (null, Refuse($"body: expected a JSON object with {fields}, found {Describe(document.RootElement.ValueKind)}"));
            var known = Fields(typeof(T));
            foreach (var property in document.RootElement.EnumerateObject())
                if (!known.ContainsKey(property.Name))
                    return (null, Refuse($"field '{property.Name}': unknown (known: {fields})"));
            try { return (document.Deserialize<T>(Options), null); }
            catch (JsonException e) { return (null, Refuse(WrongKind(e.Path, known))); }
        }
    }

    static IResult Refuse(string error) => Results.BadRequest(new { error });

    /// <summary>"$.checkpointIds[1]" -> "field 'checkpointIds[1]': expected a whole number".</summary>
    static string WrongKind(string? path, Dictionary<string, Type> known)
    {
        var field = (path ?? "$").TrimStart('$', '.');
        var name = field.Split('[', '.')[0];
        if (!known.TryGetValue(name, out var type)) return $"body: a value cannot be read{(field.Length > 0 ? $" at '{field}'" : "")}";
        if (field.Contains('[') && ElementType(type) is { } element) type = element;
        return $"field '{field}': expected {Kind(type)}";
    }

    /// <summary>The record's JSON fields (camelCase) and their types, in declaration order.</summary>
    static Dictionary<string, Type> Fields(Type type) => type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite || type.GetConstructors().Any(c => c.GetParameters().Any(a => a.Name == p.Name)))
        .ToDictionary(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name), p => p.PropertyType, StringComparer.OrdinalIgnoreCase);

    static Type? ElementType(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.IsGenericType && type.GetGenericArguments() is [var item] && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) ? item
        : null;

    static string Kind(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) ? "a string"
            : type == typeof(bool) ? "true or false"
            : type == typeof(int) ? "a whole number from -2147483648 to 2147483647"
            : type == typeof(long) ? "a whole number"
            : type == typeof(double) ? "a number"
            : ElementType(type) is { } item ? (Nullable.GetUnderlyingType(item) ?? item) == typeof(int) ? "a list of whole numbers" : "a list"
            : "an object";
    }

    static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "true or false",
        _ => "null",
    };
}
