using Studio.Core.Data;

namespace Studio.Core.Evaluations;

/// <summary>
/// The evaluations of one run's checkpoints over its training, as its page charts them: for one metric, a point per
/// evaluated checkpoint at its step (with its 95% interval), a line per evaluation settings (only evaluations of the same
/// settings compare; a checkpoint evaluated twice with the same settings counts its newest), and the teacher's newest
/// evaluation with those settings as a dashed reference line.
/// </summary>
public static class EvaluationsOverTraining
{
    public static (List<ScatterPoint> Points, List<ReferenceLine> References) Chart(IEnumerable<CheckpointEvaluation> evaluations, int runId, EvaluationMetric metric)
    {
        var done = evaluations.Where(v => v.State == EvaluationState.Completed).ToList();
        var points = done.Where(v => v.RunId == runId && v.CheckpointId is not null)
            .GroupBy(v => (v.SettingsKey, v.Step)).Select(g => g.OrderByDescending(v => v.Id).First())
            .Where(v => metric.Value(v) is { } y && double.IsFinite(y))
            .Select(v => new ScatterPoint(v.Step, metric.Value(v)!.Value, $"step {v.Step}", v.SettingsKey, metric.Interval?.Invoke(v)))
            .OrderBy(p => p.Group, StringComparer.Ordinal).ThenBy(p => p.X).ToList();
        var keys = points.Select(p => p.Group).Distinct().ToList();
        var references = done.Where(v => v.IsTeacher && keys.Contains(v.SettingsKey))
            .GroupBy(v => v.SettingsKey).Select(g => g.OrderByDescending(v => v.Id).First())
            .Where(v => metric.Value(v) is { } y && double.IsFinite(y))
            .OrderBy(v => v.SettingsKey, StringComparer.Ordinal)
            .Select(v => new ReferenceLine(keys.Count == 1 ? "teacher" : $"teacher · {v.SettingsKey}", metric.Value(v)!.Value)).ToList();
        return (points, references);
    }
}
