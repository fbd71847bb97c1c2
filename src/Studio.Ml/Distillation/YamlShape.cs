using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Studio.Ml.Distillation;

/// <summary>A problem of a YAML document, at a field ("optimizer.lr", "stages[1].prompts[0].weight"; "" for the document) and a line.</summary>
public sealed record YamlProblem(string Field, long Line, string Message)
{
    public override string ToString() => Field.Length > 0 ? $"line {Line}: {Field}: {Message}" : $"line {Line}: {Message}";
}

/// <summary>
/// Checks a YAML document against the shape of a settings class before it is deserialized: every key must be a
/// property (snake_case), every value of the property's kind (mapping, list, whole number, number, true/false, text).
/// Each fault is named by field and line in plain words ("optimizer.lr: 'fast' is not a number"), never by .NET type.
/// </summary>
public static class YamlShape
{
    /// <summary>
    /// Whether each property may be null, read once per property. NullabilityInfoContext is not thread-safe (two runs'
    /// YAML checked at once corrupted its cache: "An item with the same key has already been added"), so each reading
    /// gets its own.
    /// </summary>
    static readonly ConcurrentDictionary<PropertyInfo, bool> NullableProperties = new();

    static bool IsNullable(PropertyInfo property) =>
        NullableProperties.GetOrAdd(property, p => new NullabilityInfoContext().Create(p).WriteState == NullabilityState.Nullable);

    public static IReadOnlyList<YamlProblem> Problems(string yaml, Type type)
    {
        if (Load(yaml, out var unreadable) is not { } stream) return [unreadable!];
        if (stream.Documents.Count == 0 || IsNull(stream.Documents[0].RootNode)) return [new YamlProblem("", 1, "the document is empty")];
        if (stream.Documents.Count > 1) return [new YamlProblem("", stream.Documents[1].RootNode.Start.Line, "more than one YAML document (remove the '---' line)")];
        var problems = new List<YamlProblem>();
        Check(stream.Documents[0].RootNode, type, "", nullable: false, problems);
        return problems;
    }

    public const int MaxDepth = 32;

    /// <summary>
    /// The one way the studio reads YAML text (run configurations, a sweep's values): its documents, or, when they
    /// cannot be read, null and the problem by line: not YAML, a '[' or '{' left open, an alias, nesting deeper than
    /// <see cref="MaxDepth"/>.
    /// </summary>
    public static YamlStream? Load(string yaml, out YamlProblem? problem)
    {
        var stream = new YamlStream();
        try
        {
            problem = Unsupported(yaml);
            if (problem is null) stream.Load(new StringReader(yaml));
        }
        catch (YamlException e) { problem = new YamlProblem("", e.Start.Line, $"not valid YAML: {e.Message}"); }
        return problem is null ? stream : null;
    }

    /// <summary>
    /// Reads the document's events (the parser keeps its own stack) before anything recurses over it: nesting deeper than
    /// any settings class, and aliases (which can multiply a document), are refused. A '[' or '{' still open when a
    /// later line starts a key ("seed: [1" and then "stages: ...") makes YamlDotNet 18's scanner throw an
    /// InvalidOperationException rather than a YamlException, and a tag that is not a URI ("!![") an ArgumentException;
    /// the first is named here by the line the bracket opened on, the second by the line read last.
    /// </summary>
    static YamlProblem? Unsupported(string yaml)
    {
        var parser = new Parser(new StringReader(yaml));
        var open = new Stack<(long Line, char? Bracket)>(); // the collections not closed yet, with '[' or '{' where written so
        long line = 1;
        try
        {
            while (parser.MoveNext())
            {
                line = parser.Current!.Start.Line;
                switch (parser.Current)
                {
                    case YamlDotNet.Core.Events.AnchorAlias alias:
                        return new YamlProblem("", line, $"aliases (*{alias.Value}) are not supported: write the value out");
                    case YamlDotNet.Core.Events.SequenceStart sequence:
                        open.Push((line, sequence.Style == YamlDotNet.Core.Events.SequenceStyle.Flow ? '[' : null));
                        break;
                    case YamlDotNet.Core.Events.MappingStart mapping:
                        open.Push((line, mapping.Style == YamlDotNet.Core.Events.MappingStyle.Flow ? '{' : null));
                        break;
                    case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                        open.Pop();
                        break;
                }
                if (open.Count > MaxDepth) return new YamlProblem("", line, $"nested more than {MaxDepth} levels deep");
            }
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            var bracket = open.FirstOrDefault(o => o.Bracket is not null); // the innermost '[' or '{'
            return e is InvalidOperationException && bracket.Bracket is { } b
                ? new YamlProblem("", bracket.Line, $"not valid YAML: the '{b}' on this line is not closed")
                : new YamlProblem("", line, $"not valid YAML: {e.Message.Split(" (Parameter ")[0]}");
        }
        return null;
    }

    static void Check(YamlNode node, Type type, string field, bool nullable, List<YamlProblem> problems)
    {
        void Add(string message) => problems.Add(new YamlProblem(field, node.Start.Line, message));
        var underlying = Nullable.GetUnderlyingType(type);
        if (IsNull(node))
        {
            if (!nullable && underlying is null) Add($"needs {Kind(type)}, found nothing");
            return;
        }
        type = underlying ?? type;
        if (type == typeof(string))
        {
            if (node is not YamlScalarNode) Add($"expected text, found {Found(node)}");
        }
        else if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            if (node is not YamlSequenceNode list) { Add($"expected a list, found {Found(node)}"); return; }
            var item = type.GetGenericArguments()[0];
            foreach (var (child, i) in list.Children.Select((c, i) => (c, i)))
                Check(child, item, $"{field}[{i}]", nullable: false, problems);
        }
        else if (type.IsClass)
        {
            if (node is not YamlMappingNode map) { Add($"expected keys ({string.Join(", ", Keys(type).Keys)}), found {Found(node)}"); return; }
            var keys = Keys(type);
            foreach (var (keyNode, value) in map.Children)
            {
                var key = (keyNode as YamlScalarNode)?.Value ?? "";
                var path = field.Length == 0 ? key : $"{field}.{key}";
                if (!keys.TryGetValue(key, out var property))
                    problems.Add(new YamlProblem(path, keyNode.Start.Line, $"unknown key (known here: {string.Join(", ", keys.Keys)})"));
                else
                    Check(value, property.PropertyType, path, IsNullable(property), problems);
            }
        }
        else if (node is not YamlScalarNode scalar) Add($"expected {Kind(type)}, found {Found(node)}");
        else if (ScalarProblem(scalar.Value ?? "", type) is { } problem) Add(problem);
    }

    static string? ScalarProblem(string value, Type type)
    {
        if (type == typeof(bool))
            return bool.TryParse(value, out _) ? null : $"'{value}' is not true or false";
        if (type == typeof(int) || type == typeof(long))
        {
            if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n))
                return type == typeof(int) && n is < int.MinValue or > int.MaxValue ? $"{value} is too large" : null;
            var tooLarge = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                           && Math.Abs(d) > (type == typeof(int) ? int.MaxValue : long.MaxValue);
            return tooLarge ? $"{value} is too large" : $"'{value}' is not a whole number";
        }
        if (type.IsEnum)
        {
            var words = Enum.GetNames(type).Select(name => name.ToLowerInvariant()).ToList();
            return words.Contains(value) ? null : $"'{value}' is not {string.Join(" or ", words)}";
        }
        if (type == typeof(double))
            return !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? $"'{value}' is not a number"
                : !double.IsFinite(d) ? $"{value} is not a finite number" : null;
        return null;
    }

    /// <summary>The YAML keys of a settings class: its settable properties, snake_case, as the deserializer reads them.</summary>
    static Dictionary<string, PropertyInfo> Keys(Type type) => type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite && p.GetCustomAttribute<YamlIgnoreAttribute>() is null)
        .ToDictionary(p => UnderscoredNamingConvention.Instance.Apply(p.Name), p => p);

    static string Kind(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(bool) ? "true or false"
            : type == typeof(int) || type == typeof(long) ? "a whole number"
            : type == typeof(double) ? "a number"
            : type == typeof(string) ? "text"
            : type.IsEnum ? string.Join(" or ", Enum.GetNames(type).Select(name => name.ToLowerInvariant()))
            : type.IsGenericType ? "a list"
            : "keys";
    }

    static string Found(YamlNode node) => node switch
    {
        YamlMappingNode => "keys (a mapping)",
        YamlSequenceNode => "a list",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "something else",
    };

    static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };
}
