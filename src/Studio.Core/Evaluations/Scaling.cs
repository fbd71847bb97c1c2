using System.Text.Json;
using Studio.Core.Charts;
using Studio.Core.Data;
using Studio.Ml.Toy;

namespace Studio.Core.Evaluations;

/// <summary>One number an evaluation reports, as the scaling chart's metric selector offers it, and its 95% interval where it has one.</summary>
public sealed record EvaluationMetric(string Key, string Label, bool LowerIsBetter, Func<CheckpointEvaluation, double?> Value,
    Func<CheckpointEvaluation, ScoreInterval?>? Interval = null);

/// <summary>
/// A point of a scatter chart: x, y, what it is (label, drawn beside it), which series it belongs to (group), its interval
/// (an error bar) when known, and <paramref name="Detail"/>, a longer name for its tooltip when the label leaves something out.
/// </summary>
public sealed record ScatterPoint(double X, double Y, string Label, string Group, ScoreInterval? Interval = null, string? Detail = null);

/// <summary>A horizontal reference line (the teacher's score), marked at <paramref name="X"/> (the teacher's own size) when given.</summary>
public sealed record ReferenceLine(string Label, double Y, double? X = null);

/// <summary>The paper's scaling figure from stored evaluations: student size against an evaluation metric.</summary>
public static class Scaling
{
    public const string VisionGroup = "vision loss";
    public const string NaiveGroup = "naive embedding MSE";

    /// <summary>The paper's criteria, how closely a student reproduces the teacher's images, the CLIP score, each toy prompt category's own score, then the encoder's latency.</summary>
    public static readonly IReadOnlyList<EvaluationMetric> Metrics =
    [
        new("semantics", "Semantic accuracy", false, v => v.Semantics, v => Intervals(v)?.Semantics),
        new("text", "Text character accuracy", false, v => v.Text, v => Intervals(v)?.Text),
        new("image-quality-fd", "Image quality (Fréchet distance, lower is better)", true, v => v.ImageQualityFrechet, v => Intervals(v)?.ImageQualityFrechet),
        new("fd-all", "Fréchet distance over all images (lower is better)", true, v => v.FrechetAll, v => Intervals(v)?.FrechetAll),
        new("teacher-difference", "Difference to the teacher's images (mean |Δ| per pixel /255, lower is better)", true, v => v.TeacherDifference, v => Intervals(v)?.TeacherDifference),
        new("teacher-ssim", "Structural similarity to the teacher's images (SSIM, higher is better)", false, v => v.TeacherSimilarity, v => Intervals(v)?.TeacherSimilarity),
        new("clip-score", "CLIP score of the images against their prompts (100 x cosine, higher is better)", false, v => v.ClipScore, v => Intervals(v)?.ClipScore),
        .. ToyCriteria.Categories.Select(c => new EvaluationMetric($"category:{c}", $"Category {c}", false, v => Category(v, c)?.Score, v => Category(v, c)?.Interval)),
        .. ToyCriteria.Categories.Select(c => new EvaluationMetric($"teacher-difference:{c}", $"Difference to the teacher's images, {c} prompts (mean |Δ| /255, lower is better)",
            true, v => Category(v, c)?.TeacherDifference, v => Category(v, c)?.TeacherDifferenceInterval)),
        .. ToyCriteria.Categories.Select(c => new EvaluationMetric($"teacher-ssim:{c}", $"Structural similarity to the teacher's images, {c} prompts (SSIM, higher is better)",
            false, v => Category(v, c)?.TeacherSimilarity, v => Category(v, c)?.TeacherSimilarityInterval)),
        .. ToyCriteria.Categories.Select(c => new EvaluationMetric($"clip-score:{c}", $"CLIP score, {c} prompts (100 x cosine, higher is better)",
            false, v => Category(v, c)?.ClipScore, v => Category(v, c)?.ClipScoreInterval)),
        new("latency", "Encoder latency (ms per prompt, lower is better)", true, v => v.EncoderLatencyMs),
    ];

    public static EvaluationMetric Metric(string key) => Metrics.FirstOrDefault(m => m.Key == key) ?? Metrics[0];

    /// <summary>
    /// The metrics some of these evaluations have a value for (teacher agreement has no toy scores), in
    /// <see cref="Metrics"/>' order; every metric when none has a value yet.
    /// </summary>
    public static IReadOnlyList<EvaluationMetric> Measured(IEnumerable<CheckpointEvaluation> evaluations)
    {
        var done = evaluations.Where(v => v.State == EvaluationState.Completed).ToList();
        var measured = Metrics.Where(m => done.Any(v => m.Value(v) is { } x && double.IsFinite(x))).ToList();
        return measured.Count > 0 ? measured : Metrics;
    }

    /// <summary>One category's score (and interval) from the stored per-category JSON.</summary>
    public static ToyCategoryScore? Category(CheckpointEvaluation v, string category) =>
        string.IsNullOrEmpty(v.CategoriesJson) ? null
            : JsonSerializer.Deserialize<List<ToyCategoryScore>>(v.CategoriesJson, ToyJson.Options)?.FirstOrDefault(c => c.Category == category);

    /// <summary>The headline scores' intervals; null for an evaluation stored before they were.</summary>
    public static ToyIntervals? Intervals(CheckpointEvaluation v) =>
        string.IsNullOrEmpty(v.IntervalsJson) ? null : JsonSerializer.Deserialize<ToyIntervals>(v.IntervalsJson, ToyJson.Options);

    /// <summary>Which series a run's point joins: the naive baseline, or the paper's vision loss (the default).</summary>
    public static string GroupOf(CheckpointEvaluation v) => v.Loss == "naive" ? NaiveGroup : VisionGroup;

    /// <summary>
    /// The completed evaluations the chart plots for one series key (<see cref="CheckpointEvaluation.SeriesKey"/>): for each run its latest evaluated checkpoint
    /// (highest step, then newest), and for each teacher pipeline its newest evaluation.
    /// </summary>
    public static (List<CheckpointEvaluation> Runs, List<CheckpointEvaluation> Teachers) Latest(IEnumerable<CheckpointEvaluation> evaluations, string seriesKey)
    {
        var done = evaluations.Where(v => v.State == EvaluationState.Completed && v.SeriesKey == seriesKey).ToList();
        var runs = done.Where(v => !v.IsTeacher).GroupBy(v => v.RunId)
            .Select(g => g.OrderByDescending(v => v.Step).ThenByDescending(v => v.Id).First()).OrderBy(v => v.EncoderParameters).ToList();
        var teachers = done.Where(v => v.IsTeacher).GroupBy(v => v.Pipeline).Select(g => g.MaxBy(v => v.Id)!).ToList();
        return (runs, teachers);
    }

    /// <summary>The chart's points (x = parameters of the T5 slot) and the teachers' reference lines for one metric.</summary>
    public static (List<ScatterPoint> Points, List<ReferenceLine> References) Chart(
        IReadOnlyList<CheckpointEvaluation> runs, IReadOnlyList<CheckpointEvaluation> teachers, EvaluationMetric metric, Func<int, string> runName)
    {
        var plotted = runs.Where(v => v.EncoderParameters > 0 && metric.Value(v) is { } y && double.IsFinite(y)).ToList();
        var oneStep = plotted.Select(v => v.Step).Distinct().Count() == 1;
        var points = plotted.Select(v => (Run: runName(v.RunId!.Value), v))
            .Select(p => new ScatterPoint(p.v.EncoderParameters!.Value, metric.Value(p.v)!.Value,
                PointLabel(p.Run, p.v, withStep: !oneStep), GroupOf(p.v), metric.Interval?.Invoke(p.v),
                Detail: $"{p.Run} · {(p.v.SizeLabel is { Length: > 0 } size ? size + " · " : "")}step {p.v.Step}"))
            .ToList();
        var references = teachers.Where(v => metric.Value(v) is { } y && double.IsFinite(y))
            .Select(v => new ReferenceLine(teachers.Count == 1 ? "teacher" : $"teacher ({v.Pipeline})", metric.Value(v)!.Value, v.EncoderParameters))
            .ToList();
        return (points, references);
    }

    /// <summary>
    /// "3 · lr sweep · toy-base · step 400": the run, its student's size unless the run's name says it already (its last
    /// word: "toy-study-large" says toy-large), and the step unless every point has the same one (then the tooltip and
    /// the table say it), so that labels stay short enough to sit between the error bars.
    /// </summary>
    static string PointLabel(string run, CheckpointEvaluation v, bool withStep)
    {
        var label = v.SizeLabel is { Length: > 0 } size && !run.Contains(size.Split('-', ' ')[^1], StringComparison.OrdinalIgnoreCase) ? $"{run} · {size}" : run;
        return withStep ? $"{label} · step {v.Step}" : label;
    }
}
