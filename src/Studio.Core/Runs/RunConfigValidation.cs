using System.Text.RegularExpressions;
using Studio.Core.Hosting;
using Studio.Ml.Distillation;

namespace Studio.Core.Runs;

/// <summary>One problem of a run configuration, with the YAML path of the field it names ("optimizer.lr", "stages[1].prompts"; "" for none).</summary>
public sealed record FieldProblem(string Field, string Message);

/// <summary>
/// What the New run form checks before it queues anything: paths a user typed must lie inside the allowed folders,
/// then <see cref="DistillationSetup.Validate"/> (values, files present, teacher and student widths and vocabularies),
/// exactly what the worker checks before it loads weights. Each problem is tied to the field its message names.
/// </summary>
public static partial class RunConfigValidation
{
    public static IReadOnlyList<FieldProblem> Check(RunConfig config, PathGuard paths, string baseDirectory)
    {
        config.BaseDirectory = baseDirectory;
        var problems = new List<string>();
        void Guard(string field, string? path)
        {
            if (string.IsNullOrWhiteSpace(path)) return;
            var full = config.ResolvePath(path);
            if (!paths.IsAllowed(full)) problems.Add($"{field}: {full} is outside the allowed folders ({string.Join(", ", paths.Roots)})");
        }
        if (config.Teacher.Pipeline != "toy") Guard("teacher.pipeline", config.Teacher.Pipeline);
        Guard("student.init", config.Student.Init);
        Guard("cache.directory", config.Cache.Directory);
        foreach (var (stage, i) in config.Stages.Select((s, i) => (s, i)))
            foreach (var source in stage.Prompts.Where(p => !p.Set.StartsWith("toy:", StringComparison.Ordinal)))
                Guard($"stages[{i}].prompts", source.Set);
        foreach (var source in config.Validation.Prompts.Where(p => !p.Set.StartsWith("toy:", StringComparison.Ordinal)))
            Guard("validation.prompts", source.Set);
        problems.AddRange(DistillationSetup.Validate(config));
        return problems.Distinct().Select(Parse).ToList();
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
