using System.Text.Json;
using Studio.Core.Charts;
using Studio.Core.Data;
using Studio.Ml.Toy;

namespace Studio.Core.Evaluations;

/// <summary>One number an evaluation reports, as the scaling chart's metric selector offers it.</summary>
public sealed record EvaluationMetric(string Key, string Label, bool LowerIsBetter, Func<CheckpointEvaluation, double?> Value);

/// <summary>A point of a scatter chart: x, y, what it is (label) and which series it belongs to (group).</summary>
public sealed record ScatterPoint(double X, double Y, string Label, string Group);

/// <summary>A horizontal reference line (the teacher's score), marked at <paramref name="X"/> (the teacher's own size) when given.</summary>
public sealed record ReferenceLine(string Label, double Y, double? X = null);

/// <summary>The paper's scaling figure from stored evaluations: student size against an evaluation metric.</summary>
public static class Scaling
{
    public const string VisionGroup = "vision loss";
    public const string NaiveGroup = "naive embedding MSE";

    /// <summary>The paper's criteria, then each toy prompt category's own score, then the encoder's latency.</summary>
    public static readonly IReadOnlyList<EvaluationMetric> Metrics =
    [
        new("semantics", "Semantic accuracy", false, v => v.Semantics),
        new("text", "Text character accuracy", false, v => v.Text),
        new("image-quality-fd", "Image quality (Fréchet distance, lower is better)", true, v => v.ImageQualityFrechet),
        new("fd-all", "Fréchet distance over all images (lower is better)", true, v => v.FrechetAll),
        .. ToyCriteria.Categories.Select(c => new EvaluationMetric($"category:{c}", $"Category {c}", false, v => CategoryScore(v, c))),
        new("latency", "Encoder latency (ms per prompt, lower is better)", true, v => v.EncoderLatencyMs),
    ];

    public static EvaluationMetric Metric(string key) => Metrics.FirstOrDefault(m => m.Key == key) ?? Metrics[0];

    public static double? CategoryScore(CheckpointEvaluation v, string category)
    {
        if (string.IsNullOrEmpty(v.CategoriesJson)) return null;
        using var json = JsonDocument.Parse(v.CategoriesJson);
        foreach (var c in json.RootElement.EnumerateArray())
            if (c.GetProperty("category").GetString() == category) return c.GetProperty("score").GetDouble();
        return null;
    }

    /// <summary>Which series a run's point joins: the naive baseline, or the paper's vision loss (the default).</summary>
    public static string GroupOf(CheckpointEvaluation v) => v.Loss == "naive" ? NaiveGroup : VisionGroup;

    /// <summary>
    /// The completed evaluations the chart plots for one settings key: for each run its latest evaluated checkpoint
    /// (highest step, then newest), and for each teacher pipeline its newest evaluation.
    /// </summary>
    public static (List<CheckpointEvaluation> Runs, List<CheckpointEvaluation> Teachers) Latest(IEnumerable<CheckpointEvaluation> evaluations, string settingsKey)
    {
        var done = evaluations.Where(v => v.State == EvaluationState.Completed && v.SettingsKey == settingsKey).ToList();
        var runs = done.Where(v => !v.IsTeacher).GroupBy(v => v.RunId)
            .Select(g => g.OrderByDescending(v => v.Step).ThenByDescending(v => v.Id).First()).OrderBy(v => v.EncoderParameters).ToList();
        var teachers = done.Where(v => v.IsTeacher).GroupBy(v => v.Pipeline).Select(g => g.MaxBy(v => v.Id)!).ToList();
        return (runs, teachers);
    }

    /// <summary>The chart's points (x = parameters of the T5 slot) and the teachers' reference lines for one metric.</summary>
    public static (List<ScatterPoint> Points, List<ReferenceLine> References) Chart(
        IReadOnlyList<CheckpointEvaluation> runs, IReadOnlyList<CheckpointEvaluation> teachers, EvaluationMetric metric, Func<int, string> runName)
    {
        var points = runs.Where(v => v.EncoderParameters > 0 && metric.Value(v) is { } y && double.IsFinite(y))
            .Select(v => new ScatterPoint(v.EncoderParameters!.Value, metric.Value(v)!.Value,
                $"{runName(v.RunId!.Value)} · {v.SizeLabel} · step {v.Step}", GroupOf(v)))
            .ToList();
        var references = teachers.Where(v => metric.Value(v) is { } y && double.IsFinite(y))
            .Select(v => new ReferenceLine(teachers.Count == 1 ? "teacher" : $"teacher ({v.Pipeline})", metric.Value(v)!.Value, v.EncoderParameters))
            .ToList();
        return (points, references);
    }
}
