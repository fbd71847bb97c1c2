using System.Globalization;
using System.Text;
using Studio.Ml.Distillation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Studio.Core.Runs;

/// <summary>
/// One swept field of a run configuration: its YAML path ("optimizer.lr", "stages[0].updates") and the values it takes,
/// each as YAML ("3e-4", "small", "[2.0, 3.5]"). A mapping value sets its keys in the mapping at the path and leaves
/// the others, so fields that go together vary together: "student" = "{preset: small, init: /models/flan-t5-small}".
/// </summary>
public sealed record SweepAxis(string Field, IReadOnlyList<string> Values);

/// <summary>
/// A run of a Bayesian sweep as the next proposal sees it: its value of each axis (as its name writes them), its result
/// (null: none), and whether it is still queued or running (it then counts as the worst result so far: TPE's "constant
/// liar", so that runs training at once are not proposed on top of each other).
/// </summary>
public sealed record SweepTrial(IReadOnlyList<string> Settings, double? Loss, bool Pending = false);

/// <summary>One run of a sweep: its name, its configuration, and the value of each axis (in the axes' order).</summary>
public sealed record SweepVariant(string Name, string ConfigYaml, IReadOnlyList<(string Field, string Value)> Settings)
{
    /// <summary>"lr=3e-4, preset=small".</summary>
    public string Label => string.Join(", ", Settings.Select(s => $"{RunSweep.ShortField(s.Field, Settings.Select(o => o.Field))}={s.Value}"));
}

/// <summary>
/// Runs from one configuration: every combination of the axes' values (a grid) or random draws of them
/// (<see cref="SweepSearch"/>), each written into a copy of the configuration's YAML at the axis's field (missing
/// mappings are created; comments are not kept). Values may be ranges or distributions (<see cref="SweepValues"/>).
/// The runs share a group, so the Runs page lists them together and Compare opens them at once.
/// </summary>
public static class RunSweep
{
    public const int MaxRuns = 64;
    public const int MaxAxes = 4;

    /// <summary>
    /// The sweep's runs (every combination of the axes' values, or <see cref="SweepSearch.RandomRuns"/> random draws),
    /// or the problems of the axes (by field "axes[i].field" / "axes[i].values[j]", the search by "randomRuns");
    /// nothing is checked of the configurations themselves.
    /// </summary>
    public static IReadOnlyList<SweepVariant> Expand(string name, string configYaml, IReadOnlyList<SweepAxis> axes, out IReadOnlyList<FieldProblem> problems,
        SweepSearch? search = null)
    {
        search ??= SweepSearch.Grid;
        var found = new List<FieldProblem>();
        problems = found;
        if (axes.Count == 0) found.Add(new("axes", "a sweep needs at least one field with values"));
        if (axes.Count > MaxAxes) found.Add(new("axes", $"{axes.Count} fields: a sweep varies at most {MaxAxes}"));
        if (search.RandomRuns is { } wanted && wanted is < 1 or > MaxRuns)
            found.Add(new("randomRuns", $"{wanted} runs: random search draws 1 to {MaxRuns}"));
        if (search.Bayesian && search.RandomRuns is null) found.Add(new("randomRuns", "Bayesian search needs the number of runs to make"));
        if (search.Bayesian && (search.AtOnce < 1 || search.AtOnce > (search.RandomRuns ?? MaxRuns)))
            found.Add(new("atOnce", $"{search.AtOnce} runs at once: from 1 to the sweep's {search.RandomRuns} runs"));
        if (!search.IsRandom && search.Seed != 0) found.Add(new("randomSeed", "only random search takes a seed: give the number of runs to draw too"));
        var (values, distributions) = ParseAxes(axes, search, found);
        if (!search.IsRandom)
        {
            var count = values.Aggregate(1L, (n, v) => n * Math.Max(v.Count, 1));
            if (count > MaxRuns) found.Add(new("axes", $"{count:N0} combinations: a sweep queues at most {MaxRuns} runs"));
        }
        if (found.Count > 0) return [];

        if (Root(configYaml, found) is not { } document) return [];
        // Bayesian search queues its first runs at once, drawn as random search draws them; the others come one by one.
        if (search.Bayesian && !HasEnoughDistinct(values, distributions, search.RandomRuns!.Value, found)) return [];
        var combinations = search.RandomRuns is { } runs
            ? Draws(values, distributions, search.Bayesian ? Math.Min(search.AtOnce, runs) : runs, search.Seed, found)
            : Combinations(values);
        var variants = new List<SweepVariant>();
        foreach (var combination in combinations)
        {
            if (Variant(name, document, axes, combination, found) is not { } variant) return [];
            variants.Add(variant);
        }
        return found.Count > 0 ? [] : variants;
    }

    /// <summary>
    /// The next run of a Bayesian sweep after <paramref name="trials"/> (every run it made, in order): drawn as random
    /// search draws until <see cref="StartupRuns"/> of them have a result, then each axis's value proposed by
    /// <see cref="TreeParzen"/> from the runs with a result and those still pending at the worst result (a distribution's value as a number, in its logarithm for
    /// loguniform; a list's as one of its values); never the settings of an earlier run. Null when no new run can be
    /// found (every combination of listed values made), or with the problems when the axes or the YAML are wrong.
    /// </summary>
    public static SweepVariant? ProposeNext(string name, string configYaml, IReadOnlyList<SweepAxis> axes, IReadOnlyList<SweepTrial> trials, int seed,
        out IReadOnlyList<FieldProblem> problems)
    {
        var found = new List<FieldProblem>();
        problems = found;
        var (values, distributions) = ParseAxes(axes, new SweepSearch(MaxRuns, seed, Bayesian: true), found);
        if (found.Count > 0 || Root(configYaml, found) is not { } document) return null;
        var finished = trials.Where(t => t.Loss is { } loss && double.IsFinite(loss) && t.Settings.Count == axes.Count).ToList();
        // The runs still training, at the worst result so far (they are not good yet, and not to be proposed again).
        var lies = finished.Count == 0 ? [] : trials.Where(t => t.Pending && t.Settings.Count == axes.Count)
            .Select(t => t with { Loss = finished.Max(f => f.Loss!.Value) }).ToList();
        var seen = trials.Select(t => string.Join('\n', t.Settings)).ToHashSet();
        var random = new Random(unchecked(seed * 1_000_003 + trials.Count));
        for (var attempt = 0; attempt < 50; attempt++)
        {
            // Half the attempts from TPE; if they only find earlier settings, random draws.
            var combination = finished.Count >= StartupRuns && attempt < 25
                ? values.Select((list, i) => Proposed(list, distributions[i], finished.Concat(lies).Select(t => (t.Settings[i], t.Loss!.Value)).ToList(), random)).ToArray()
                : values.Select((list, i) => Drawn(list, distributions[i], random)).ToArray();
            if (seen.Contains(string.Join('\n', combination.Select(c => c.Text)))) continue;
            return Variant(name, document, axes, combination, found);
        }
        return null;
    }

    /// <summary>Runs of a Bayesian sweep drawn at random before TPE takes over: until this many have a result.</summary>
    public const int StartupRuns = 4;

    static (string Text, YamlNode Node) Drawn(List<(string Text, YamlNode Node)> list, SweepValues.Distribution? distribution, Random random) =>
        distribution is null ? list[random.Next(list.Count)] : Scalar(SweepValues.Number(distribution.Draw(random)));

    static (string Text, YamlNode Node) Proposed(List<(string Text, YamlNode Node)> list, SweepValues.Distribution? distribution,
        List<(string Setting, double Loss)> finished, Random random)
    {
        if (distribution is not null)
        {
            var numbers = finished.Select(f => (Ok: double.TryParse(f.Setting, NumberStyles.Float, CultureInfo.InvariantCulture, out var v), Value: v, f.Loss))
                .Where(f => f.Ok).Select(f => (f.Value, f.Loss)).ToList();
            var x = TreeParzen.ProposeNumber(numbers, distribution.Low, distribution.High, distribution.Logarithmic, random);
            return Scalar(SweepValues.Number(x));
        }
        var indices = finished.Select(f => (Index: list.FindIndex(v => v.Text == f.Setting), f.Loss)).Where(f => f.Index >= 0).ToList();
        return list[TreeParzen.ProposeChoice(indices, list.Count, random)];
    }

    static (string Text, YamlNode Node) Scalar(string text) => (text, new YamlScalarNode(text));

    /// <summary>The run of one combination: the configuration with each value at its axis's field, named after the sweep and the values.</summary>
    static SweepVariant? Variant(string name, YamlMappingNode document, IReadOnlyList<SweepAxis> axes, (string Text, YamlNode Node)[] combination, List<FieldProblem> found)
    {
        var root = (YamlMappingNode)Copy(document);
        var settings = new List<(string, string)>();
        for (var i = 0; i < axes.Count; i++)
        {
            var field = axes[i].Field.Trim();
            if (Set(root, field, Copy(combination[i].Node)) is { } problem)
            {
                found.Add(new($"axes[{i}].field", problem));
                return null;
            }
            settings.Add((field, combination[i].Text));
        }
        var variant = new SweepVariant("", "", settings);
        var runName = $"{name.Trim()} · {variant.Label}";
        Set(root, "name", new YamlScalarNode(runName) { Style = ScalarStyle.DoubleQuoted });
        return variant with { Name = runName, ConfigYaml = Write(root) };
    }

    /// <summary>Each axis's values (a list, or a distribution's draws), with the problems of any by "axes[i].field" / "axes[i].values[j]".</summary>
    static (List<List<(string Text, YamlNode Node)>> Values, List<SweepValues.Distribution?> Distributions) ParseAxes(IReadOnlyList<SweepAxis> axes,
        SweepSearch search, List<FieldProblem> found)
    {
        var values = new List<List<(string Text, YamlNode Node)>>();
        var distributions = new List<SweepValues.Distribution?>();
        for (var i = 0; i < axes.Count; i++)
        {
            var axis = axes[i];
            var field = axis.Field?.Trim() ?? "";
            if (PathProblem(field) is { } bad) found.Add(new($"axes[{i}].field", bad));
            else if (axes.Take(i).Any(a => a.Field?.Trim() == field)) found.Add(new($"axes[{i}].field", $"'{field}' is swept twice"));
            var parsed = new List<(string, YamlNode)>();
            SweepValues.Distribution? distribution = null;
            var list = axis.Values ?? [];
            if (list.Count == 0) found.Add(new($"axes[{i}].values", $"no values for '{field}'"));
            foreach (var (text, j) in list.Select((v, j) => (v?.Trim() ?? "", j)))
            {
                if (SweepValues.IsCall(text))
                {
                    var (expanded, drawn) = SweepValues.Read(text, out var problem);
                    if (problem is not null) found.Add(new($"axes[{i}].values[{j}]", problem));
                    else if (drawn is not null)
                    {
                        if (!search.IsRandom) found.Add(new($"axes[{i}].values[{j}]", $"{text} is drawn at random: choose random search (a number of runs), or give values"));
                        else if (list.Count > 1) found.Add(new($"axes[{i}].values[{j}]", $"{text} must be the field's only value (it draws every run's value)"));
                        distribution = drawn;
                    }
                    foreach (var value in expanded ?? [])
                    {
                        if (parsed.Any(p => p.Item1 == value))
                        {
                            found.Add(new($"axes[{i}].values[{j}]", $"{text} gives '{value}' twice (at three significant digits)"));
                            break;
                        }
                        parsed.Add((value, new YamlScalarNode(value)));
                    }
                }
                else if (ValueNode(text, out var problem) is { } node)
                {
                    if (parsed.Any(p => p.Item1 == text)) found.Add(new($"axes[{i}].values[{j}]", $"'{text}' is given twice"));
                    parsed.Add((text, node));
                }
                else found.Add(new($"axes[{i}].values[{j}]", problem!));
            }
            values.Add(parsed);
            distributions.Add(distribution);
        }
        return (values, distributions);
    }

    /// <summary>
    /// Random search: <paramref name="runs"/> different combinations, each axis drawing from its distribution or
    /// choosing one of its values, from a generator seeded with <paramref name="seed"/>.
    /// </summary>
    static List<(string Text, YamlNode Node)[]> Draws(List<List<(string Text, YamlNode Node)>> values, List<SweepValues.Distribution?> distributions,
        int runs, int seed, List<FieldProblem> problems)
    {
        if (!HasEnoughDistinct(values, distributions, runs, problems)) return [];
        var random = new Random(seed);
        var drawn = new List<(string Text, YamlNode Node)[]>();
        var seen = new HashSet<string>();
        for (var attempt = 0; drawn.Count < runs && attempt < runs * 100; attempt++)
        {
            var combination = values.Zip(distributions, (list, distribution) => Drawn(list, distribution, random)).ToArray();
            if (seen.Add(string.Join('\n', combination.Select(c => c.Text)))) drawn.Add(combination);
        }
        if (drawn.Count < runs)
            problems.Add(new("randomRuns", $"only {drawn.Count} different runs were drawn in {runs * 100} tries (values at three significant digits): draw fewer"));
        return drawn;
    }

    /// <summary>Whether listed values alone (no distribution) make at least <paramref name="runs"/> different runs; a problem when not.</summary>
    static bool HasEnoughDistinct(List<List<(string Text, YamlNode Node)>> values, List<SweepValues.Distribution?> distributions, int runs, List<FieldProblem> problems)
    {
        if (distributions.Any(d => d is not null) || values.Aggregate(1L, (n, v) => n * v.Count) is var distinct && distinct >= runs) return true;
        problems.Add(new("randomRuns", $"these values make only {distinct} different runs: draw at most {distinct}, or queue them all as a grid"));
        return false;
    }

    /// <summary>
    /// The configuration with each setting's YAML value written at its field (`studio distill --set optimizer.lr=3e-4`);
    /// null with the problems (by "set[i]") when a field is not a path, a value is not YAML or the document is not a mapping.
    /// </summary>
    public static string? Apply(string configYaml, IReadOnlyList<(string Field, string Value)> settings, out IReadOnlyList<FieldProblem> problems)
    {
        var found = new List<FieldProblem>();
        problems = found;
        var nodes = new List<YamlNode>();
        foreach (var ((field, value), i) in settings.Select((s, i) => (s, i)))
        {
            if (PathProblem(field) is { } bad && field != "name") found.Add(new($"set[{i}]", bad));
            if (ValueNode(value.Trim(), out var problem) is { } node) nodes.Add(node);
            else found.Add(new($"set[{i}]", $"{field}: {problem}"));
        }
        if (found.Count > 0 || Root(configYaml, found) is not { } root) return null;
        for (var i = 0; i < settings.Count; i++)
            if (Set(root, settings[i].Field, nodes[i]) is { } problem) found.Add(new($"set[{i}]", problem));
        return found.Count > 0 ? null : Write(root);
    }

    static YamlMappingNode? Root(string configYaml, List<FieldProblem> problems)
    {
        if (YamlShape.Load(configYaml, out var unreadable) is not { } document)
        {
            problems.Add(new("configYaml", unreadable!.ToString()));
            return null;
        }
        if (document.Documents.Count == 1 && document.Documents[0].RootNode is YamlMappingNode root) return root;
        problems.Add(new("configYaml", "the run configuration must be one YAML mapping"));
        return null;
    }

    /// <summary>Values as a person types them: separated by commas, except inside brackets, parentheses or quotes ("1e-4, 3e-4", "[2, 3], [4]", "linspace(0, 1, 5)").</summary>
    public static List<string> SplitValues(string? text)
    {
        var values = new List<string>();
        var current = new StringBuilder();
        var depth = 0;
        char? quote = null;
        foreach (var c in text ?? "")
        {
            if (quote is { } q) { if (c == q) quote = null; }
            else if (c is '"' or '\'') quote = c;
            else if (c is '[' or '{' or '(') depth++;
            else if (c is ']' or '}' or ')') depth = Math.Max(0, depth - 1);
            else if (c == ',' && depth == 0)
            {
                Add();
                continue;
            }
            current.Append(c);
        }
        Add();
        return values;

        void Add()
        {
            if (current.ToString().Trim() is { Length: > 0 } value) values.Add(value);
            current.Clear();
        }
    }

    /// <summary>The last part of a field ("lr" of "optimizer.lr") unless another swept field ends the same way.</summary>
    public static string ShortField(string field, IEnumerable<string> all)
    {
        static string Last(string f) => f[(f.LastIndexOf('.') + 1)..];
        var last = Last(field);
        return all.Count(f => Last(f) == last) > 1 ? field : last;
    }

    static string? PathProblem(string field)
    {
        if (field.Length == 0) return "no field given (a YAML path such as optimizer.lr or stages[0].updates)";
        if (field == "name") return "the runs' names come from the sweep's name and values: sweep another field";
        return Segments(field) is null ? $"'{field}' is not a YAML path (such as optimizer.lr or stages[0].updates)" : null;
    }

    /// <summary>"stages[0].updates" -> (stages, 0), (updates, null); null when the text is not such a path.</summary>
    static List<(string Key, int? Index)>? Segments(string field)
    {
        var segments = new List<(string, int?)>();
        foreach (var part in field.Split('.'))
        {
            var key = part;
            int? index = null;
            var open = part.IndexOf('[');
            if (open >= 0)
            {
                if (!part.EndsWith(']') || !int.TryParse(part[(open + 1)..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var i)) return null;
                key = part[..open];
                index = i;
            }
            if (key.Length == 0 || !key.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_')) return null;
            segments.Add((key, index));
        }
        return segments;
    }

    static YamlNode? ValueNode(string text, out string? problem)
    {
        problem = null;
        if (text.Length == 0) { problem = "an empty value"; return null; }
        if (YamlShape.Load(text, out _) is { Documents.Count: 1 } stream) return stream.Documents[0].RootNode;
        problem = $"'{text}' is not a YAML value (quote text that holds ':' or '#')";
        return null;
    }

    /// <summary>Writes <paramref name="value"/> at <paramref name="field"/>, creating missing mappings; an index must name an existing list item.</summary>
    static string? Set(YamlMappingNode root, string field, YamlNode value)
    {
        var segments = Segments(field)!;
        YamlMappingNode mapping = root;
        for (var i = 0; i < segments.Count; i++)
        {
            var (key, index) = segments[i];
            var last = i == segments.Count - 1;
            var keyNode = new YamlScalarNode(key);
            mapping.Children.TryGetValue(keyNode, out var child);
            var path = string.Join('.', field.Split('.').Take(i + 1));
            if (index is { } n)
            {
                if (child is not YamlSequenceNode list || n >= list.Children.Count)
                    return $"'{path}' is not in the configuration ({(child is YamlSequenceNode l ? $"it has {l.Children.Count} items" : "no such list")})";
                if (last) { list.Children[n] = value; return null; }
                if (list.Children[n] is not YamlMappingNode item) return $"'{path}' is not a mapping";
                mapping = item;
                continue;
            }
            if (last)
            {
                if (child is YamlMappingNode existing && value is YamlMappingNode keys) Merge(existing, keys);
                else mapping.Children[keyNode] = value;
                return null;
            }
            if (child is null || child is YamlScalarNode { Value: null or "" or "~" or "null" })
            {
                var created = new YamlMappingNode();
                mapping.Children[keyNode] = created;
                mapping = created;
            }
            else if (child is YamlMappingNode next) mapping = next;
            else return $"'{path}' is not a mapping, so it has no '{segments[i + 1].Key}'";
        }
        return null;
    }

    /// <summary>A mapping value sets its keys in the mapping already there (the others stay): several fields set together.</summary>
    static void Merge(YamlMappingNode into, YamlMappingNode keys)
    {
        foreach (var (key, value) in keys.Children)
        {
            if (into.Children.TryGetValue(key, out var existing) && existing is YamlMappingNode inner && value is YamlMappingNode more) Merge(inner, more);
            else into.Children[key] = value;
        }
    }

    static YamlNode Copy(YamlNode node) => node switch
    {
        YamlScalarNode s => new YamlScalarNode(s.Value) { Style = s.Style, Tag = s.Tag },
        YamlSequenceNode q => new YamlSequenceNode(q.Children.Select(Copy)) { Style = q.Style },
        YamlMappingNode m => new YamlMappingNode(m.Children.Select(kv => new KeyValuePair<YamlNode, YamlNode>(Copy(kv.Key), Copy(kv.Value)))) { Style = m.Style },
        _ => throw new NotSupportedException($"YAML node {node.NodeType}"),
    };

    static string Write(YamlMappingNode root)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
        var text = writer.ToString();
        // YamlStream ends a document with "...": a run file does not need it.
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }

    static IEnumerable<(string Text, YamlNode Node)[]> Combinations(List<List<(string Text, YamlNode Node)>> values)
    {
        IEnumerable<(string, YamlNode)[]> result = [[]];
        foreach (var axis in values)
            result = result.SelectMany(prefix => axis.Select(v => prefix.Append(v).ToArray())).ToList();
        return result;
    }
}
