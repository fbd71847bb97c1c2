using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Studio.Core.Hosting;
using Studio.Ml.Prompts;
using Studio.Ml.Distillation;

namespace Studio.Core.Runs;

/// <summary>One problem of a run configuration, with the YAML path of the field it names ("optimizer.lr", "stages[1].prompts"; "" for none).</summary>
public sealed record FieldProblem(string Field, string Message)
{
    public override string ToString() => Field.Length > 0 ? $"{Field}: {Message}" : Message;
}

/// <summary>
/// The one check of a run configuration, made by the New run form, the HTTP API (create, fork, resume) and the worker
/// before it opens anything: the YAML's shape (unknown keys, values of the wrong kind, by field and line), every path
/// against the allowed folders (Studio:AllowedRoots, after ".." and symbolic links), the prompt files' contents, then
/// <see cref="DistillationSetup.Validate"/> (values, files present, teacher and student widths and vocabularies).
/// Each problem is tied to the field its message names.
/// </summary>
public static partial class RunConfigValidation
{
    /// <summary>Checks run YAML; relative paths resolve against <paramref name="baseDirectory"/> (the data directory), as the worker resolves them.</summary>
    public static IReadOnlyList<FieldProblem> Check(string yaml, PathGuard paths, string baseDirectory)
    {
        var config = Parse(yaml, out var problems);
        return config is null ? problems : Check(config, paths, baseDirectory);
    }

    public static IReadOnlyList<FieldProblem> Check(RunConfig config, PathGuard paths, string baseDirectory)
    {
        config.BaseDirectory = baseDirectory;
        var problems = new List<string>();
        var refused = false;
        string? Refusal(string path) => paths.Problem(path.Contains('\0') ? path : config.ResolvePath(path));
        void Guard(string field, string? path)
        {
            if (string.IsNullOrWhiteSpace(path)) return;
            if (Refusal(path) is { } problem) { problems.Add($"{field}: {problem}"); refused = true; }
        }
        if (config.Teacher.Pipeline != "toy") Guard("teacher.pipeline", config.Teacher.Pipeline);
        Guard("student.init", config.Student.Init);
        Guard("cache.directory", config.Cache.Directory);
        var sources = config.Stages.SelectMany((s, i) => s.Prompts.Select(p => (Field: $"stages[{i}].prompts", Source: p)))
            .Concat(config.Validation.Prompts.Select(p => (Field: "validation.prompts", Source: p)))
            .Where(s => !s.Source.Set.StartsWith("toy:", StringComparison.Ordinal) && !string.IsNullOrWhiteSpace(s.Source.Set))
            .ToList();
        foreach (var (field, source) in sources) Guard(field, source.Set);
        foreach (var (field, source) in sources.Where(s => Refusal(s.Source.Set) is null))
            if (PromptFileProblem(config.ResolvePath(source.Set)) is { } problem) problems.Add($"{field}: {problem}");
        // Nothing outside the allowed folders is opened, not even to say what is wrong with it: then only the values are checked.
        problems.AddRange(refused ? RunConfigChecks.Values(config) : DistillationSetup.Validate(config));
        return problems.Distinct().Select(Parse).ToList();
    }

    /// <summary>
    /// Problems of the text alone (its YAML and its values): a configuration with any of them can never run, whatever
    /// files appear later, so a failed run with one is not offered Resume.
    /// </summary>
    public static IReadOnlyList<FieldProblem> TextProblems(string yaml) =>
        Parse(yaml, out var problems) is { } config ? RunConfigChecks.Values(config).Select(Parse).ToList() : problems;

    /// <summary>Whether the YAML can be read into a configuration at all (its values may still be wrong).</summary>
    public static bool Readable(string yaml) => Parse(yaml, out _) is not null;

    static RunConfig? Parse(string yaml, out IReadOnlyList<FieldProblem> problems)
    {
        problems = [];
        if (string.IsNullOrWhiteSpace(yaml)) { problems = [new FieldProblem("", "the run configuration (YAML) is empty")]; return null; }
        try { return RunConfig.FromYaml(yaml); }
        catch (RunConfigException e)
        {
            problems = Of(e);
            return null;
        }
    }

    /// <summary>The faults of YAML that cannot be read, by field, each with its line.</summary>
    public static IReadOnlyList<FieldProblem> Of(RunConfigException e) =>
        e.Problems.Count == 0 ? [new FieldProblem("", e.Message)] : e.Problems.Select(p => new FieldProblem(p.Field, $"line {p.Line}: {p.Message}")).ToList();

    /// <summary>
    /// What reading each version of a prompt file found (null: usable). A file is read whole to be checked, and a
    /// prompt list can be tens of MB (0.9 s for 34 MB here), so a sweep's runs and a form's every edit read a file
    /// once per version: its path, length and last write time.
    /// </summary>
    static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written), string?> PromptFileChecks = new();
    const int MaxPromptFileChecks = 256;

    /// <summary>A prompt file that is missing, cannot be read, or holds no usable prompt.</summary>
    static string? PromptFileProblem(string path)
    {
        if (!File.Exists(path)) return $"file not found: {path}";
        try
        {
            var file = new FileInfo(path);
            var version = (file.FullName, file.Length, file.LastWriteTimeUtc);
            if (PromptFileChecks.TryGetValue(version, out var known)) return known;
            var read = PromptSetReader.Read(path);
            var problem = read.Prompts.Count == 0 ? $"{read.Summary}: no usable prompt" : null;
            if (PromptFileChecks.Count >= MaxPromptFileChecks) PromptFileChecks.Clear();
            PromptFileChecks[version] = problem;
            return problem;
        }
        catch (PromptFileException e) { return e.Message; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return $"{path} cannot be read ({e.Message})"; }
    }

    /// <summary>"optimizer.lr: must be positive" -> (optimizer.lr, must be positive); a message without a field path keeps the whole text.</summary>
    public static FieldProblem Parse(string problem)
    {
        var match = FieldPrefix().Match(problem);
        return match.Success ? new FieldProblem(match.Groups[1].Value, problem[match.Length..]) : new FieldProblem("", problem);
    }

    [GeneratedRegex(@"^([a-z_0-9]+(?:\[\d+\])?(?:\.[a-z_0-9]+(?:\[\d+\])?)*): ")]
    private static partial Regex FieldPrefix();
}
