using Studio.Core.Data;

namespace Studio.Core.Evaluations;

/// <summary>
/// Evaluations of checkpoints over training, for one metric: a point per evaluated checkpoint at its step (with its 95%
/// interval; a checkpoint evaluated twice with the same settings counts its newest), and the teachers' newest
/// evaluations with the same settings as dashed reference lines. A run's page draws a line per evaluation settings
/// (<see cref="OfRun"/>); Compare draws a line per run for the settings chosen (<see cref="OfRuns"/>).
/// </summary>
public static class EvaluationsOverTraining
{
    /// <summary>One run's evaluated checkpoints, a line per evaluation settings; the teacher of each of those settings.</summary>
    public static (List<ScatterPoint> Points, List<ReferenceLine> References) OfRun(IEnumerable<CheckpointEvaluation> evaluations, int runId, EvaluationMetric metric)
    {
        var done = evaluations.Where(v => v.State == EvaluationState.Completed).ToList();
        var points = Points(done.Where(v => v.RunId == runId), metric, v => v.SeriesKey, _ => "");
        var keys = points.Select(p => p.Group).Distinct().ToList();
        var references = References(done.Where(v => v.IsTeacher && keys.Contains(v.SeriesKey)), metric, v => v.SeriesKey,
            v => keys.Count == 1 ? "teacher" : $"teacher · {v.SeriesKey}");
        return (points, references);
    }

    /// <summary>Each run's evaluated checkpoints with <paramref name="seriesKey"/> (<see cref="CheckpointEvaluation.SeriesKey"/>), a line per run; each teacher pipeline's with those settings.</summary>
    public static (List<ScatterPoint> Points, List<ReferenceLine> References) OfRuns(IEnumerable<CheckpointEvaluation> evaluations, string seriesKey,
        EvaluationMetric metric, Func<int, string> runName)
    {
        var done = evaluations.Where(v => v.State == EvaluationState.Completed && v.SeriesKey == seriesKey).ToList();
        var points = Points(done, metric, v => runName(v.RunId!.Value), v => $"{runName(v.RunId!.Value)} · ");
        var teachers = done.Where(v => v.IsTeacher).Select(v => v.Pipeline).Distinct().Count();
        var references = References(done.Where(v => v.IsTeacher), metric, v => v.Pipeline, v => teachers == 1 ? "teacher" : $"teacher ({v.Pipeline})");
        return (points, references);
    }

    static List<ScatterPoint> Points(IEnumerable<CheckpointEvaluation> evaluations, EvaluationMetric metric,
        Func<CheckpointEvaluation, string> group, Func<CheckpointEvaluation, string> labelPrefix) =>
        evaluations.Where(v => !v.IsTeacher && v.CheckpointId is not null)
            .GroupBy(v => (v.RunId, v.SeriesKey, v.Step)).Select(g => g.OrderByDescending(v => v.Id).First())
            .Where(v => metric.Value(v) is { } y && double.IsFinite(y))
            .Select(v => new ScatterPoint(v.Step, metric.Value(v)!.Value, $"{labelPrefix(v)}step {v.Step}", group(v), metric.Interval?.Invoke(v)))
            .OrderBy(p => p.Group, StringComparer.Ordinal).ThenBy(p => p.X).ToList();

    static List<ReferenceLine> References(IEnumerable<CheckpointEvaluation> teachers, EvaluationMetric metric,
        Func<CheckpointEvaluation, string> by, Func<CheckpointEvaluation, string> label) =>
        teachers.GroupBy(by).Select(g => g.OrderByDescending(v => v.Id).First())
            .Where(v => metric.Value(v) is { } y && double.IsFinite(y))
            .OrderBy(by, StringComparer.Ordinal)
            .Select(v => new ReferenceLine(label(v), metric.Value(v)!.Value)).ToList();
}
