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
        var (points, references) = EvaluationsOverTraining.Chart(evaluations, 7, Scaling.Metric("semantics"));

        var twenty = evaluations[0].SettingsKey;
        var four = evaluations[4].SettingsKey;
        Assert.Equal(
            new[] { (100.0, 0.2, twenty), (200.0, 0.3, twenty), (100.0, 0.25, four) }.OrderBy(p => p.Item3, StringComparer.Ordinal).ThenBy(p => p.Item1),
            points.Select(p => (p.X, p.Y, p.Group)));
        Assert.All(points, p => Assert.Equal($"step {p.X}", p.Label));
        Assert.Equal([new ReferenceLine($"teacher · {twenty}", 0.5)], references);

        // A metric the teacher has no value of (the difference to itself) draws no reference line.
        Assert.Empty(EvaluationsOverTraining.Chart(evaluations, 7, Scaling.Metric("teacher-difference")).References);
    }
}
