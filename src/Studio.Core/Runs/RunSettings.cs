using System.Globalization;
using Studio.Ml.Distillation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Studio.Core.Runs;

/// <summary>
/// A run's configuration as flat settings, one per YAML path ("optimizer.lr" = "0.0003", "stages[0].updates" = "8000",
/// lists of plain values inline: "trajectory.guidance" = "[2, 3.5]"), with every default filled in, so runs can be set
/// side by side field by field (Compare's settings table: the fields in which runs differ, like TensorBoard's HParams).
/// </summary>
public static class RunSettings
{
    /// <summary>The run's settings; YAML that cannot be read as a run configuration is flattened as it is written.</summary>
    public static IReadOnlyDictionary<string, string> Of(string configYaml)
    {
        string normalised;
        try { normalised = RunConfig.FromYaml(configYaml).ToYaml(); }
        catch (RunConfigException) { normalised = configYaml; }
        var settings = new Dictionary<string, string>();
        if (YamlShape.Load(normalised, out _) is { Documents.Count: > 0 } stream) Flatten(stream.Documents[0].RootNode, "", settings);
        return settings;
    }

    /// <summary>
    /// The fields (in configuration order) whose values are not the same in every run, the run name left out (a sweep
    /// names its runs by their values); a field a run lacks counts as "–".
    /// </summary>
    public static IReadOnlyList<string> Differing(IReadOnlyList<IReadOnlyDictionary<string, string>> runs)
    {
        var fields = runs.SelectMany(r => r.Keys).Distinct().Where(f => f != "name");
        return fields.Where(f => runs.Select(r => Value(r, f)).Distinct().Count() > 1).ToList();
    }

    public static string Value(IReadOnlyDictionary<string, string> settings, string field) => settings.TryGetValue(field, out var v) ? v : "–";

    /// <summary>A value's number when it is one (so a column of learning rates sorts as numbers), else null.</summary>
    public static double? Number(string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;

    static string Key(YamlNode key) => (key as YamlScalarNode)?.Value ?? key.ToString();

    static void Flatten(YamlNode node, string path, Dictionary<string, string> settings)
    {
        switch (node)
        {
            case YamlMappingNode map:
                foreach (var (key, value) in map.Children)
                    Flatten(value, path.Length == 0 ? Key(key) : $"{path}.{Key(key)}", settings);
                break;
            case YamlSequenceNode list when list.Children.All(c => c is YamlScalarNode):
                settings[path] = "[" + string.Join(", ", list.Children.Select(c => ((YamlScalarNode)c).Value)) + "]";
                break;
            case YamlSequenceNode list:
                for (var i = 0; i < list.Children.Count; i++) Flatten(list.Children[i], $"{path}[{i}]", settings);
                if (list.Children.Count == 0) settings[path] = "[]";
                break;
            case YamlScalarNode scalar:
                settings[path] = scalar.Value ?? "";
                break;
        }
    }
}
