using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Evaluations;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Ml.Distillation;
using Studio.Ml.Toy;

namespace Studio.Core.Tests;

/// <summary>
/// A run that asks for each checkpoint to be evaluated: each is queued as the trainer stores it, held past
/// checkpoints.keep while its evaluation waits, and deleted once that has run (the trainer's side of the hold is
/// tested with the real Distiller in Studio.Ml.Tests).
/// </summary>
public class EvaluateEachCheckpointTests
{
    sealed class ScriptedExecutor(Func<RunExecution, ITrainingReporter, Task> script) : IRunExecutor
    {
        public Task ExecuteAsync(RunExecution run, ITrainingReporter reporter, CancellationToken ct) => script(run, reporter);
    }

    sealed class DoneEvaluator : IEvaluationExecutor
    {
        public Task<ToyEvaluationResult> ExecuteAsync(EvaluationExecution evaluation, IProgress<JobProgress> progress, CancellationToken ct) =>
            Task.FromResult(new ToyEvaluationResult("toy", "student", 100, 1, "heldout", 10, 1, 20, 3.5, ImageQualityFrechet: 1, FrechetAll: 1,
                Semantics: 0.5, Text: 0.5, Categories: [], Seconds: 1, Items: []));
    }

    static string Write(string checkpoints, long step) =>
        Directory.CreateDirectory(Path.Combine(checkpoints, TrainingCheckpoint.DirectoryName(step))).FullName;

    static TrainingEvent Written(string path, long step) =>
        new(TrainingEventKind.CheckpointWritten, 0, step, "checkpoint", new Dictionary<string, string> { [TrainingEventData.Path] = path });

    [Fact]
    public async Task EachCheckpointIsQueuedAsItIsStoredHeldWhileItWaitsAndDeletedByKeepOnceEvaluated()
    {
        var s = await RunJobTests.SetUpAsync();
        var run = await s.Runs.CreateAsync("each", ToyRun.Yaml(c => c.Checkpoints.Keep = 1), evaluate: new AutoEvaluation(WhenDone: true, EachCheckpoint: true));
        var heldDuring = new List<(long Step, bool Held)>();
        string? step10 = null, step20 = null, stray = null;
        var executor = new ScriptedExecutor((execution, reporter) =>
        {
            var checkpoints = Path.Combine(execution.ArtifactFolder, "checkpoints");
            // A folder keep would delete but that no evaluation held (written by hand): the studio leaves it alone.
            stray = Write(checkpoints, 5);
            step10 = Write(checkpoints, 10);
            reporter.Event(Written(step10, 10));
            heldDuring.Add((10, reporter.Holds(step10))); // its evaluation was queued when the event returned
            step20 = Write(checkpoints, 20);
            reporter.Event(Written(step20, 20));
            heldDuring.Add((20, reporter.Holds(step20)));
            heldDuring.Add((5, reporter.Holds(stray)));
            // As the trainer does when keep (1) would delete step 10 but the studio holds it.
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointHeld, 0, 20, "held", new Dictionary<string, string> { [TrainingEventData.Path] = step10 }));
            return Task.CompletedTask;
        });
        await s.Job(executor).Execute(run.Id, CancellationToken.None);
        Assert.Equal([(10L, true), (20L, true), (5L, false)], heldDuring);

        await using var db = s.Db.CreateDbContext();
        Assert.Equal(RunState.Completed, (await db.Runs.SingleAsync(r => r.Id == run.Id)).State);
        // The teacher once, then one evaluation per checkpoint, in the order written; evaluateWhenDone adds none for the last.
        var all = await db.Evaluations.OrderBy(v => v.Id).ToListAsync();
        Assert.True(all[0].IsTeacher);
        var queued = all.Skip(1).ToList();
        Assert.Equal([10L, 20L], queued.Select(v => v.Step));
        Assert.All(all, v => Assert.Equal(EvaluationState.Queued, v.State));
        var log = await db.RunEvents.Where(e => e.RunId == run.Id).Select(e => e.Message).ToListAsync();
        Assert.Equal(2, log.Count(m => m.EndsWith("as the run asked for each checkpoint.")));

        var evaluationJob = new EvaluationJob(s.Db, new DoneEvaluator(), new EvaluationFeed(), s.Feed, s.Options, new WorkerIdentity("test:host:1"));
        // Step 20's evaluation ends first: step 10 is still held by its own, so nothing goes.
        await evaluationJob.Execute(queued[1].Id, CancellationToken.None);
        Assert.True(Directory.Exists(step10));
        // Step 10's ends: keep (1) now deletes it, its entry and nothing else; the log says so.
        await evaluationJob.Execute(queued[0].Id, CancellationToken.None);
        Assert.False(Directory.Exists(step10));
        Assert.True(Directory.Exists(step20));
        Assert.True(Directory.Exists(stray));
        Assert.Equal([20L], await db.Checkpoints.Where(c => c.RunId == run.Id).Select(c => c.Step).ToListAsync());
        Assert.Contains(await db.RunEvents.Where(e => e.RunId == run.Id && e.Kind == "CheckpointRemoved").Select(e => e.Message).ToListAsync(),
            m => m == $"checkpoint {TrainingCheckpoint.DirectoryName(10)} removed (checkpoints.keep: 1), its evaluation done");
        Assert.All(await db.Evaluations.AsNoTracking().Where(v => v.RunId != null).ToListAsync(), v => Assert.Equal(EvaluationState.Completed, v.State));
    }

    [Fact]
    public async Task AHeldCheckpointWhoseEvaluationEndsBeforeTheRunStopsIsDeletedWhenTheRunStops()
    {
        var s = await RunJobTests.SetUpAsync();
        var run = await s.Runs.CreateAsync("each", ToyRun.Yaml(c => c.Checkpoints.Keep = 1), evaluate: new AutoEvaluation(EachCheckpoint: true));
        var evaluationJob = new EvaluationJob(s.Db, new DoneEvaluator(), new EvaluationFeed(), s.Feed, s.Options, new WorkerIdentity("test:host:1"));
        string? step10 = null;
        var keptWhileTraining = false;
        await s.Job(new ScriptedExecutor(async (execution, reporter) =>
        {
            var checkpoints = Path.Combine(execution.ArtifactFolder, "checkpoints");
            step10 = Write(checkpoints, 10);
            reporter.Event(Written(step10, 10));
            reporter.Event(Written(Write(checkpoints, 20), 20));
            // The trainer's last prune held step 10; its evaluation ends while the run is still training.
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointHeld, 0, 20, "held", new Dictionary<string, string> { [TrainingEventData.Path] = step10 }));
            await using (var db = s.Db.CreateDbContext())
                await evaluationJob.Execute((await db.Evaluations.SingleAsync(v => v.Step == 10)).Id, CancellationToken.None);
            keptWhileTraining = Directory.Exists(step10);
        })).Execute(run.Id, CancellationToken.None);

        Assert.True(keptWhileTraining);
        Assert.False(Directory.Exists(step10));
        await using var check = s.Db.CreateDbContext();
        Assert.Equal([20L], await check.Checkpoints.Where(c => c.RunId == run.Id).Select(c => c.Step).ToListAsync());
        Assert.Contains(await check.RunEvents.Where(e => e.RunId == run.Id && e.Kind == "CheckpointRemoved").Select(e => e.Message).ToListAsync(),
            m => m == $"checkpoint {TrainingCheckpoint.DirectoryName(10)} removed (checkpoints.keep: 1), its evaluation done");
    }

    [Fact]
    public async Task TheRunsEvaluationSettingsAreThoseOfTheTeachersAndEachCheckpointsEvaluation()
    {
        var s = await RunJobTests.SetUpAsync();
        var cheap = new EvaluationSettings(PromptsPerCategory: 4, Steps: 8);
        var run = await s.Runs.CreateAsync("each", ToyRun.Yaml(), evaluate: new AutoEvaluation(EachCheckpoint: true, Settings: cheap));
        await s.Job(new ScriptedExecutor((execution, reporter) =>
        {
            var checkpoints = Path.Combine(execution.ArtifactFolder, "checkpoints");
            reporter.Event(Written(Write(checkpoints, 10), 10));
            return Task.CompletedTask;
        })).Execute(run.Id, CancellationToken.None);
        await using var db = s.Db.CreateDbContext();
        var queued = await db.Evaluations.OrderBy(v => v.Id).ToListAsync();
        Assert.Equal([true, false], queued.Select(v => v.IsTeacher));
        Assert.All(queued, v => Assert.Equal((4, 1, 8, "heldout", 3.5), (v.PromptsPerCategory, v.Seeds, v.Steps, v.Split, v.Guidance)));

        // Settings out of range, or settings with nothing to evaluate, are refused by field before anything is stored.
        var zero = await Assert.ThrowsAsync<RunActionException>(() => s.Runs.CreateAsync("x", ToyRun.Yaml(),
            evaluate: new AutoEvaluation(WhenDone: true, Settings: cheap with { Seeds = 0 })));
        Assert.Equal([new FieldProblem("evaluation", "seeds must be between 1 and 16 (got 0)")], zero.Problems);
        var idle = await Assert.ThrowsAsync<RunActionException>(() => s.Runs.CreateAsync("x", ToyRun.Yaml(), evaluate: new AutoEvaluation(Settings: cheap)));
        Assert.Equal("evaluation", Assert.Single(idle.Problems).Field);
        Assert.Equal(1, await db.Runs.CountAsync());
    }

    [Fact]
    public async Task CancellingAQueuedEvaluationReleasesTheCheckpointItHeldAfterTheRun()
    {
        var s = await RunJobTests.SetUpAsync();
        var run = await s.Runs.CreateAsync("each", ToyRun.Yaml(c => c.Checkpoints.Keep = 1), evaluate: new AutoEvaluation(EachCheckpoint: true));
        string? step10 = null;
        await s.Job(new ScriptedExecutor((execution, reporter) =>
        {
            var checkpoints = Path.Combine(execution.ArtifactFolder, "checkpoints");
            step10 = Write(checkpoints, 10);
            reporter.Event(Written(step10, 10));
            var step20 = Write(checkpoints, 20);
            reporter.Event(Written(step20, 20));
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointHeld, 0, 20, "held", new Dictionary<string, string> { [TrainingEventData.Path] = step10 }));
            return Task.CompletedTask;
        })).Execute(run.Id, CancellationToken.None);
        var evaluations = new Evaluations.EvaluationService(s.Db, new Hangfire.BackgroundJobClient(s.Storage), new EvaluationFeed(), s.Options);
        await using var db = s.Db.CreateDbContext();
        var first = await db.Evaluations.Where(v => v.RunId != null).OrderBy(v => v.Step).FirstAsync();
        Assert.Equal(10, first.Step);
        Assert.True(Directory.Exists(step10));
        await evaluations.CancelAsync(first.Id);
        Assert.False(Directory.Exists(step10));
    }

    [Fact]
    public async Task ARunWhoseTeacherIsSd3CanAskForEachCheckpointToBeEvaluated()
    {
        var s = await RunJobTests.SetUpAsync();
        var teacher = RunJobTests.Sd3Teacher(s.Db.Directory);
        var run = await s.Runs.CreateAsync("sd3", ToyRun.Yaml(c => c.Teacher.Pipeline = teacher), evaluate: new AutoEvaluation(EachCheckpoint: true));
        Assert.True(run.EvaluateEachCheckpoint);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TheRunsLogSaysOnceWhenNoWorkerServesTheEvaluationsQueue(bool served)
    {
        var s = await RunJobTests.SetUpAsync();
        if (served)
            using (var connection = s.Storage.GetConnection())
                connection.AnnounceServer("web:host:1:interactive", new Hangfire.Server.ServerContext { Queues = ["interactive", EvaluationService.Queue], WorkerCount = 1 });
        var run = await s.Runs.CreateAsync("each", ToyRun.Yaml(), evaluate: new AutoEvaluation(EachCheckpoint: true));
        await s.Job(new ScriptedExecutor((execution, reporter) =>
        {
            var checkpoints = Path.Combine(execution.ArtifactFolder, "checkpoints");
            foreach (var step in new[] { 10L, 20L }) reporter.Event(Written(Write(checkpoints, step), step));
            return Task.CompletedTask;
        })).Execute(run.Id, CancellationToken.None);
        await using var db = s.Db.CreateDbContext();
        var warnings = await db.RunEvents.Where(e => e.RunId == run.Id && e.Kind == "Warning" && e.Message.StartsWith("No worker serves the evaluations' queue"))
            .Select(e => e.Message).ToListAsync();
        Assert.Equal(served ? 0 : 1, warnings.Count);
        if (!served) Assert.Contains("checkpoints.keep until a worker that serves `interactive` (Studio:Queues) evaluates them", warnings[0]);
    }
}
