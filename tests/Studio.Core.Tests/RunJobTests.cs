using Hangfire;
using Hangfire.States;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

public class RunJobTests
{
    sealed class ScriptedExecutor(Func<RunExecution, ITrainingReporter, CancellationToken, Task> script) : IRunExecutor
    {
        public RunExecution? Seen { get; private set; }
        public Task ExecuteAsync(RunExecution run, ITrainingReporter reporter, CancellationToken ct) { Seen = run; return script(run, reporter, ct); }
    }

    sealed record Setup(TestDatabase Db, StudioOptions Options, SQLiteStorage Storage, RunService Runs, RunFeed Feed)
    {
        public RunJob Job(IRunExecutor executor) => new(Db, executor, Feed, Storage, Options, new WorkerIdentity("test:host:1"));
    }

    static async Task<Setup> SetUpAsync()
    {
        var db = await TestDatabase.CreateAsync();
        var options = new StudioOptions { DataDirectory = db.Directory };
        var storage = new SQLiteStorage(Path.Combine(db.Directory, "hangfire.db"));
        var feed = new RunFeed();
        return new Setup(db, options, storage, new RunService(db, new BackgroundJobClient(storage), feed, options), feed);
    }

    static UpdateMetrics Update(long step) => new() { Stage = 0, Step = step, TotalSteps = 10, Loss = 1.0 / step, LearningRate = 1e-3, GradientNorm = 1 };

    [Fact]
    public async Task ARunWithAnInvalidConfigurationFailsNamingTheField()
    {
        var s = await SetUpAsync();
        var run = await s.Runs.CreateAsync("toy", "stages: []", "cpu");
        await s.Job(new DistillRunExecutor(s.Options)).Execute(run.Id, CancellationToken.None);
        await using var db = s.Db.CreateDbContext();
        var stored = await db.Runs.SingleAsync(r => r.Id == run.Id);
        Assert.Equal(RunState.Failed, stored.State);
        Assert.Contains("stages: a run needs at least one stage", stored.Error);
        Assert.Equal("test:host:1", stored.Worker);
        Assert.NotNull(stored.FinishedAt);
        Assert.Contains(await db.RunEvents.Where(e => e.RunId == run.Id).Select(e => e.Message).ToListAsync(),
            m => m.Contains("stages: a run needs at least one stage"));
    }

    [Fact]
    public async Task AFailingRunKeepsEveryMetricAndLogLineItReported()
    {
        var s = await SetUpAsync();
        var run = await s.Runs.CreateAsync("toy", "stages: []");
        var executor = new ScriptedExecutor((execution, reporter, _) =>
        {
            for (int step = 1; step <= 7; step++) reporter.Update(Update(step));
            reporter.Event(new TrainingEvent(TrainingEventKind.Warning, 0, 7, "loss is rising"));
            throw new InvalidDataException("shard 3 is corrupt");
        });
        await s.Job(executor).Execute(run.Id, CancellationToken.None);
        Assert.Equal(ArtifactFolders.Run(s.Options, run.Id), executor.Seen!.ArtifactFolder);
        Assert.True(Directory.Exists(executor.Seen.ArtifactFolder));
        Assert.Equal("stages: []", executor.Seen.ConfigYaml);
        await using var db = s.Db.CreateDbContext();
        var stored = await db.Runs.SingleAsync(r => r.Id == run.Id);
        Assert.Equal(RunState.Failed, stored.State);
        Assert.Equal("InvalidDataException: shard 3 is corrupt", stored.Error);
        Assert.Equal(7, await db.MetricPoints.CountAsync(p => p.RunId == run.Id));
        Assert.Equal(7, stored.Step);
        Assert.Contains(await db.RunEvents.Where(e => e.RunId == run.Id).Select(e => e.Message).ToListAsync(), m => m == "loss is rising");
    }

    [Fact]
    public async Task CancellingARunningRunEndsItCancelledAndResumeQueuesItFromItsLatestCheckpoint()
    {
        var s = await SetUpAsync();
        var run = await s.Runs.CreateAsync("toy", "stages: []");
        var started = new TaskCompletionSource();
        var executor = new ScriptedExecutor(async (execution, reporter, ct) =>
        {
            foreach (var step in new[] { 5, 10 })
                reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointWritten, 0, step, "checkpoint",
                    new Dictionary<string, string> { [TrainingEventData.Path] = $"checkpoint-{step}" }));
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        using var cts = new CancellationTokenSource();
        var job = s.Job(executor).Execute(run.Id, cts.Token);
        await started.Task;
        Assert.Equal(RunState.Stopping, (await s.Runs.CancelAsync(run.Id)).State);
        cts.Cancel();   // what Hangfire does to the job's token once the job is deleted
        await job;

        await using var db = s.Db.CreateDbContext();
        var stored = await db.Runs.SingleAsync(r => r.Id == run.Id);
        Assert.Equal(RunState.Cancelled, stored.State);
        using (var connection = s.Storage.GetConnection())
            Assert.Equal(DeletedState.StateName, connection.GetStateData(stored.HangfireJobId!).Name);

        var resumed = await s.Runs.ResumeAsync(run.Id);
        Assert.Equal(RunState.Queued, resumed.State);
        var latest = await db.Checkpoints.SingleAsync(c => c.RunId == run.Id && c.Step == 10);
        Assert.Equal(latest.Id, resumed.ResumeCheckpointId);
        Assert.NotEqual(stored.HangfireJobId, resumed.HangfireJobId);

        // The resumed execution is handed the checkpoint's path.
        var second = new ScriptedExecutor((_, _, _) => Task.CompletedTask);
        await s.Job(second).Execute(run.Id, CancellationToken.None);
        Assert.Equal(latest.Path, second.Seen!.ResumeCheckpoint);
        await using var after = s.Db.CreateDbContext();
        Assert.Equal(RunState.Completed, (await after.Runs.SingleAsync(r => r.Id == run.Id)).State);
    }

    [Fact]
    public async Task AWorkerShutdownPutsTheRunBackInTheQueueInsteadOfCancellingIt()
    {
        var s = await SetUpAsync();
        var run = await s.Runs.CreateAsync("toy", "stages: []");
        var started = new TaskCompletionSource();
        var executor = new ScriptedExecutor(async (_, reporter, ct) =>
        {
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointWritten, 0, 40, "checkpoint",
                new Dictionary<string, string> { [TrainingEventData.Path] = "checkpoint-40" }));
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        using var cts = new CancellationTokenSource();
        var job = s.Job(executor).Execute(run.Id, cts.Token);
        await started.Task;
        cts.Cancel();   // the server stops; nobody asked for a cancellation
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => job);
        await using var db = s.Db.CreateDbContext();
        var stored = await db.Runs.SingleAsync(r => r.Id == run.Id);
        Assert.Equal(RunState.Queued, stored.State);
        // When Hangfire hands the job out again, the run resumes from the checkpoint it wrote.
        Assert.Equal((await db.Checkpoints.SingleAsync(c => c.RunId == run.Id)).Id, stored.ResumeCheckpointId);
    }

    [Fact]
    public async Task QueuedRunsAreEnqueuedOnTheirQueueCancelledAtOnceAndDeletedWithTheirArtifacts()
    {
        var s = await SetUpAsync();
        var run = await s.Runs.CreateAsync("toy", "stages: []", "gpu-80g");
        using (var connection = s.Storage.GetConnection())
        {
            var state = connection.GetStateData(run.HangfireJobId!);
            Assert.Equal(EnqueuedState.StateName, state.Name);
            Assert.Equal("gpu-80g", state.Data["Queue"]);
        }
        await Assert.ThrowsAsync<RunActionException>(() => s.Runs.DeleteAsync(run.Id, deleteArtifacts: true));
        Assert.Equal(RunState.Cancelled, (await s.Runs.CancelAsync(run.Id)).State);
        await Assert.ThrowsAsync<RunActionException>(() => s.Runs.CancelAsync(run.Id));

        var folder = ArtifactFolders.Run(s.Options, run.Id);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "log.txt"), "x");
        await s.Runs.DeleteAsync(run.Id, deleteArtifacts: true);
        Assert.False(Directory.Exists(folder));
        await using var db = s.Db.CreateDbContext();
        Assert.False(await db.Runs.AnyAsync(r => r.Id == run.Id));
        Assert.False(await db.RunEvents.AnyAsync(e => e.RunId == run.Id));
        await Assert.ThrowsAsync<RunActionException>(() => s.Runs.CreateAsync("bad", "", "GPU 80G"));
    }

    [Fact]
    public async Task ForkingStartsANewRunFromTheChosenCheckpoint()
    {
        var s = await SetUpAsync();
        var parent = await s.Runs.CreateAsync("base", "lr: 1e-4");
        int checkpointId;
        await using (var db = s.Db.CreateDbContext())
        {
            var c = new CheckpointEntry { RunId = parent.Id, Path = "/tmp/checkpoint-100", Step = 100 };
            db.Checkpoints.Add(c);
            await db.SaveChangesAsync();
            checkpointId = c.Id;
        }
        var fork = await s.Runs.ForkAsync(checkpointId, configYaml: "lr: 5e-5");
        Assert.Equal((parent.Id, checkpointId, checkpointId), (fork.ForkedFromRunId!.Value, fork.ForkedFromCheckpointId!.Value, fork.ResumeCheckpointId!.Value));
        Assert.Equal("base (fork at step 100)", fork.Name);
        Assert.Equal("lr: 5e-5", fork.ConfigYaml);
        Assert.Equal(RunState.Queued, fork.State);
    }
}
