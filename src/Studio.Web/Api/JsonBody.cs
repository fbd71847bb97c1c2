using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Studio.Web.Api;

/// <summary>
/// Reads a request's JSON body into a request record. A body that is not JSON, is not an object, names an unknown
/// field (at any depth: "field 'evaluation.sedes': unknown") or gives a field a value of the wrong kind (a number as a
/// string too) is answered 400 with what is wrong in plain words ("body: not JSON at line 1 position 3",
/// "field 'evaluation.seeds': expected a whole number"), never an empty 400 or a .NET type name. A UTF-8 byte order
/// mark before the JSON is skipped.
/// </summary>
public static class JsonBody
{
    /// <summary>The largest body read: run YAML up to 1 MiB, escaped.</summary>
    public const int MaxBytes = 4 << 20;

    static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        RespectNullableAnnotations = true,
        NumberHandling = JsonNumberHandling.Strict,
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
                return (null, Results.Json(new ApiError($"body: larger than the limit of {MaxBytes:N0} bytes"), statusCode: StatusCodes.Status413PayloadTooLarge));
            buffer.Write(chunk, 0, read);
        }
        var fields = string.Join(", ", Fields(typeof(T)).Keys);
        if (buffer.Length == 0 || buffer.ToArray().All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            return optional ? (null, null) : (null, Refuse($"body: empty; expected a JSON object with {fields}"));

        var bytes = buffer.ToArray().AsMemory();
        if (bytes.Span.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes); }
        catch (JsonException e) { return (null, Refuse($"body: not JSON at line {e.LineNumber + 1} position {e.BytePositionInLine + 1}")); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                return (null, Refuse($"body: expected a JSON object with {fields}, found {Describe(document.RootElement.ValueKind)}"));
            if (Unknown(document.RootElement, typeof(T), "") is { } unknown) return (null, Refuse(unknown));
            try { return (document.Deserialize<T>(Options), null); }
            catch (JsonException e) { return (null, Refuse(WrongKind(e.Path, typeof(T)))); }
        }
    }

    /// <summary>The first field of <paramref name="element"/>, at any depth, that <paramref name="type"/> does not have: "field 'evaluation.sedes': unknown (known: ...)".</summary>
    static string? Unknown(JsonElement element, Type type, string path)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (element.ValueKind == JsonValueKind.Object && IsRecord(type))
        {
            var known = Fields(type);
            foreach (var property in element.EnumerateObject())
            {
                var field = path.Length == 0 ? property.Name : $"{path}.{property.Name}";
                if (!known.TryGetValue(property.Name, out var fieldType)) return $"field '{field}': unknown (known: {string.Join(", ", known.Keys)})";
                if (Unknown(property.Value, fieldType, field) is { } problem) return problem;
            }
        }
        else if (element.ValueKind == JsonValueKind.Array && ElementType(type) is { } item)
        {
            var index = 0;
            foreach (var value in element.EnumerateArray())
                if (Unknown(value, item, $"{path}[{index++}]") is { } problem) return problem;
        }
        return null;
    }

    /// <summary>A request record (or one nested in it): named fields, as opposed to text, numbers, lists and free JSON.</summary>
    static bool IsRecord(Type type) => type.IsClass && type != typeof(string) && type != typeof(object)
        && !typeof(System.Collections.IEnumerable).IsAssignableFrom(type) && type.Namespace != "System.Text.Json.Nodes";

    static IResult Refuse(string error) => Results.BadRequest(new ApiError(error));

    /// <summary>"$.checkpointIds[1]" -> "field 'checkpointIds[1]': expected a whole number"; nested fields alike ("evaluation.seeds").</summary>
    static string WrongKind(string? path, Type root)
    {
        var field = (path ?? "$").TrimStart('$', '.');
        Type? type = root;
        foreach (System.Text.RegularExpressions.Match step in System.Text.RegularExpressions.Regex.Matches(field, @"\[\d+\]|[^.\[\]]+"))
        {
            if (type is null) break;
            type = Nullable.GetUnderlyingType(type) ?? type;
            type = step.Value.StartsWith('[') ? ElementType(type)
                : IsRecord(type) && Fields(type).TryGetValue(step.Value.Trim('\'', '[', ']'), out var fieldType) ? fieldType : null;
        }
        return type is null || field.Length == 0 ? $"body: a value cannot be read{(field.Length > 0 ? $" at '{field}'" : "")}" : $"field '{field}': expected {Kind(type)}";
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
