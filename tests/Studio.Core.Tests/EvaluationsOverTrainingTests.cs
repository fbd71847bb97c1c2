using Studio.Core.Data;
using Studio.Core.Evaluations;

namespace Studio.Core.Tests;

public class EvaluationsOverTrainingTests
{
    static CheckpointEvaluation Evaluation(int id, int? runId, long step, double semantics, int steps = 20, EvaluationState state = EvaluationState.Completed) => new()
    {
        Id = id, RunId = runId, CheckpointId = runId is null ? null : 100 + (int)step, Step = step, State = state, Semantics = semantics,
        Pipeline = "toy", Encoder = "student", Split = "heldout", PromptsPerCategory = 10, Seeds = 1, Steps = steps, Guidance = 3.5,
    };

    [Fact]
    public void EachEvaluatedCheckpointIsAPointAtItsStepALinePerSettingsAndTheTeacherOfThoseSettingsAReference()
    {
        var evaluations = new[]
        {
            Evaluation(1, 7, 100, 0.2),
            Evaluation(2, 7, 200, 0.1), // evaluated again below: the newer counts
            Evaluation(3, 7, 200, 0.3),
            Evaluation(4, 7, 300, 0.9, state: EvaluationState.Running),
            Evaluation(5, 7, 100, 0.25, steps: 4), // other settings: its own line
            Evaluation(6, 8, 100, 0.7), // another run
            Evaluation(7, null, 0, 0.4),
            Evaluation(8, null, 0, 0.5), // the teacher's newest with the first settings
            Evaluation(9, null, 0, 0.6, steps: 50), // settings no checkpoint of the run was evaluated with
        };
        var (points, references) = EvaluationsOverTraining.OfRun(evaluations, 7, Scaling.Metric("semantics"));

        var twenty = evaluations[0].SettingsKey;
        var four = evaluations[4].SettingsKey;
        Assert.Equal(
            new[] { (100.0, 0.2, twenty), (200.0, 0.3, twenty), (100.0, 0.25, four) }.OrderBy(p => p.Item3, StringComparer.Ordinal).ThenBy(p => p.Item1),
            points.Select(p => (p.X, p.Y, p.Group)));
        Assert.All(points, p => Assert.Equal($"step {p.X}", p.Label));
        Assert.Equal([new ReferenceLine($"teacher · {twenty}", 0.5)], references);

        // A metric the teacher has no value of (the difference to itself) draws no reference line.
        Assert.Empty(EvaluationsOverTraining.OfRun(evaluations, 7, Scaling.Metric("teacher-difference")).References);
    }

    [Fact]
    public void OnCompareEachRunIsALineThroughItsCheckpointsWithTheChosenSettings()
    {
        var evaluations = new[]
        {
            Evaluation(1, 7, 100, 0.2),
            Evaluation(2, 7, 200, 0.3),
            Evaluation(3, 8, 100, 0.7),
            Evaluation(4, 8, 100, 0.6, steps: 4), // other settings: not drawn
            Evaluation(5, null, 0, 0.5),
        };
        var (points, references) = EvaluationsOverTraining.OfRuns(evaluations, evaluations[0].SettingsKey, Scaling.Metric("semantics"), id => $"run {id}");
        Assert.Equal([(100.0, 0.2, "run 7", "run 7 · step 100"), (200.0, 0.3, "run 7", "run 7 · step 200"), (100.0, 0.7, "run 8", "run 8 · step 100")],
            points.Select(p => (p.X, p.Y, p.Group, p.Label)));
        Assert.Equal([new ReferenceLine("teacher", 0.5)], references);
    }

    /// <summary>A point of the scaling chart names its run, its student's size and step; the size once, not again when the run is named after it.</summary>
    [Fact]
    public void AScalingPointNamesTheStudentsSizeOnce()
    {
        CheckpointEvaluation Sized(CheckpointEvaluation v, string size) { (v.SizeLabel, v.EncoderParameters) = (size, 1000); return v; }
        var runs = new[] { Sized(Evaluation(1, 1, 300, 0.2), "toy-base"), Sized(Evaluation(2, 2, 400, 0.3), "toy-small") };
        var names = new Dictionary<int, string> { [1] = "1 · toy-base", [2] = "2 · lr 3e-4" };
        var (points, _) = Scaling.Chart(runs, [], Scaling.Metric("semantics"), id => names[id]);
        Assert.Equal(["1 · toy-base · step 300", "2 · lr 3e-4 · toy-small · step 400"], points.Select(p => p.Label));
        Assert.Equal(["1 · toy-base · toy-base · step 300", "2 · lr 3e-4 · toy-small · step 400"], points.Select(p => p.Detail));
    }

    /// <summary>
    /// When every point is at one step the labels leave it out (the tooltip and the table say it), and a run named after
    /// its size by its last word ("toy-study-large" for toy-large) is not told its size again: labels short enough to sit
    /// between the error bars.
    /// </summary>
    [Fact]
    public void PointsAtOneStepAreLabelledByTheirRunsAloneAndTheirTooltipsSayTheRest()
    {
        CheckpointEvaluation Sized(CheckpointEvaluation v, string size) { (v.SizeLabel, v.EncoderParameters) = (size, 1000); return v; }
        var runs = new[] { Sized(Evaluation(1, 1, 300, 0.2), "toy-large"), Sized(Evaluation(2, 2, 300, 0.3), "toy-small") };
        var names = new Dictionary<int, string> { [1] = "1 · toy-study-large", [2] = "2 · lr 3e-4" };
        var (points, _) = Scaling.Chart(runs, [], Scaling.Metric("semantics"), id => names[id]);
        Assert.Equal(["1 · toy-study-large", "2 · lr 3e-4 · toy-small"], points.Select(p => p.Label));
        Assert.Equal(["1 · toy-study-large · toy-large · step 300", "2 · lr 3e-4 · toy-small · step 300"], points.Select(p => p.Detail));
    }

    [Fact]
    public void EvaluationsInBfloat16AreTheirOwnLineWithTheirOwnTeacher()
    {
        CheckpointEvaluation In(string? dtype, CheckpointEvaluation v) { v.DType = dtype; return v; }
        var evaluations = new[]
        {
            In(null, Evaluation(1, 7, 100, 0.2)), // stored before the dtype was: float32's
            In("float32", Evaluation(2, 7, 200, 0.3)),
            In("bfloat16", Evaluation(3, 7, 200, 0.35)), // the same checkpoint and settings on a bfloat16 worker
            In(null, Evaluation(4, null, 0, 0.5)),
            In("bfloat16", Evaluation(5, null, 0, 0.55)),
        };
        var float32 = evaluations[0].SettingsKey;
        var bfloat16 = float32 + " · bfloat16";
        Assert.Equal((float32, float32, bfloat16), (evaluations[0].SeriesKey, evaluations[1].SeriesKey, evaluations[2].SeriesKey));
        Assert.Equal(evaluations[0].SettingsKey, evaluations[2].SettingsKey); // asked for with the same settings

        var (points, references) = EvaluationsOverTraining.OfRun(evaluations, 7, Scaling.Metric("semantics"));
        Assert.Equal([(100.0, 0.2, float32), (200.0, 0.3, float32), (200.0, 0.35, bfloat16)], points.Select(p => (p.X, p.Y, p.Group)));
        Assert.Equal([new ReferenceLine($"teacher · {float32}", 0.5), new ReferenceLine($"teacher · {bfloat16}", 0.55)], references);

        var (runs, teachers) = Scaling.Latest(evaluations, bfloat16);
        Assert.Equal([3, 5], runs.Concat(teachers).Select(v => v.Id));
        (runs, teachers) = Scaling.Latest(evaluations, float32);
        Assert.Equal([2, 4], runs.Concat(teachers).Select(v => v.Id));
    }

    [Fact]
    public void TheMeasuredMetricsAreThoseSomeCompletedEvaluationHasAValueFor()
    {
        var agreement = Evaluation(1, 7, 100, 0.2);
        (agreement.Semantics, agreement.TeacherDifference, agreement.EncoderLatencyMs, agreement.Resolution) = (null, 8.5, 3.0, 512);
        var running = Evaluation(2, 7, 200, 0.9, state: EvaluationState.Running); // a value, but not done
        Assert.Equal(["teacher-difference", "latency"], Scaling.Measured([agreement, running]).Select(m => m.Key));
        Assert.Equal(["semantics", "teacher-difference", "latency"], Scaling.Measured([agreement, Evaluation(3, 7, 300, 0.4)]).Select(m => m.Key));
        // Nothing measured yet: every metric is offered.
        Assert.Equal(Scaling.Metrics, Scaling.Measured([running]));
    }
}
