using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Queue;

namespace Studio.Core.Tests;

public class RunReconcilerTests
{
    /// <summary>What a server records when it takes a job (Hangfire's own ProcessingState cannot be made outside it).</summary>
    sealed class Processing(string serverId) : IState
    {
        public string Name => ProcessingState.StateName;
        public string Reason => "taken by a worker";
        public bool IsFinal => false;
        public bool IgnoreJobLoadException => false;
        public Dictionary<string, string> SerializeData() => new() { ["ServerId"] = serverId, ["WorkerId"] = "w1", ["StartedAt"] = JobHelper.SerializeDateTime(DateTime.UtcNow) };
    }

    sealed record Setup(TestDatabase Db, SQLiteStorage Storage, BackgroundJobClient Jobs, RunReconciler Reconciler);

    static async Task<Setup> SetUpAsync()
    {
        var db = await TestDatabase.CreateAsync();
        var storage = new SQLiteStorage(Path.Combine(db.Directory, "hangfire.db"));
        var options = new StudioOptions { DataDirectory = db.Directory };
        return new Setup(db, storage, new BackgroundJobClient(storage), new RunReconciler(storage, db, new RunFeed(), options));
    }

    /// <summary>A run in <paramref name="state"/> on a worker that never sent a heartbeat, its job in <paramref name="jobState"/>.</summary>
    static async Task<int> AddRunAsync(Setup s, RunState state, IState? jobState)
    {
        await using var db = s.Db.CreateDbContext();
        var run = new Run { Name = "r", State = state, Worker = "worker:gone:1", Queue = "train" };
        db.Runs.Add(run);
        await db.SaveChangesAsync();
        var runId = run.Id;
        run.HangfireJobId = s.Jobs.Create(Job.FromExpression<RunJob>(j => j.Execute(runId, CancellationToken.None)), new EnqueuedState("train"));
        if (jobState is not null) s.Jobs.ChangeState(run.HangfireJobId, jobState);
        db.Checkpoints.Add(new CheckpointEntry { RunId = run.Id, Path = "step-10", Step = 10 });
        await db.SaveChangesAsync();
        return run.Id;
    }

    [Fact]
    public async Task RunsOfAWorkerThatIsGoneAreNeverLeftRunningOrStopping()
    {
        var s = await SetUpAsync();
        var handedOutAgain = await AddRunAsync(s, RunState.Running, new Processing("worker:gone:1:abc"));
        var jobFailed = await AddRunAsync(s, RunState.Running, new FailedState(new Exception("boom")));
        var stopping = await AddRunAsync(s, RunState.Stopping, new DeletedState());
        var queuedJobDeleted = await AddRunAsync(s, RunState.Queued, new DeletedState());
        var queued = await AddRunAsync(s, RunState.Queued, null);

        Assert.Equal(4, await s.Reconciler.ReconcileAsync());
        Assert.Equal(0, await s.Reconciler.ReconcileAsync());   // settled

        await using var db = s.Db.CreateDbContext();
        var runs = await db.Runs.ToDictionaryAsync(r => r.Id);
        Assert.Equal(RunState.Queued, runs[handedOutAgain].State);
        Assert.Equal((await db.Checkpoints.SingleAsync(c => c.RunId == handedOutAgain)).Id, runs[handedOutAgain].ResumeCheckpointId);
        Assert.Equal(RunState.Failed, runs[jobFailed].State);
        Assert.Contains("worker:gone:1 is gone", runs[jobFailed].Error);
        Assert.Equal(RunState.Cancelled, runs[stopping].State);
        Assert.NotNull(runs[stopping].FinishedAt);
        Assert.Equal(RunState.Failed, runs[queuedJobDeleted].State);
        Assert.Equal(RunState.Queued, runs[queued].State);
        Assert.Contains(await db.RunEvents.Where(e => e.RunId == handedOutAgain).ToListAsync(), e => e.Kind == "WorkerLost");
    }

    [Fact]
    public async Task GenerationsAndEvaluationsOfAWorkerThatIsGoneEndSayingSoAndACancelAskedMeanwhileIsHonoured()
    {
        var s = await SetUpAsync();
        int drawing, cancelling, evaluating, cancellingEvaluation;
        await using (var db = s.Db.CreateDbContext())
        {
            Generation Running(string? activity) => new()
            {
                Prompt = "a red cube", State = GenerationState.Running, Worker = "worker:gone:1", Activity = activity,
                Images = [new GenerationImage { Encoder = "teacher", State = GenerationState.Completed, PngPath = "t.png" }, new GenerationImage { Encoder = "run 1 · step 10", State = GenerationState.Running }],
            };
            var (a, b) = (Running("teacher: step 183/200"), Running("cancelling"));
            CheckpointEvaluation Evaluating(string activity) => new() { Pipeline = "toy", Encoder = "teacher", State = EvaluationState.Running, Worker = "worker:gone:1", Activity = activity };
            var (v, w) = (Evaluating("generated 25/50 images"), Evaluating("cancelling"));
            db.Generations.AddRange(a, b);
            db.Evaluations.AddRange(v, w);
            await db.SaveChangesAsync();
            (drawing, cancelling, evaluating, cancellingEvaluation) = (a.Id, b.Id, v.Id, w.Id);
        }

        Assert.Equal(4, await s.Reconciler.ReconcileAsync());
        Assert.Equal(0, await s.Reconciler.ReconcileAsync()); // settled
        await using (var db = s.Db.CreateDbContext())
        {
            var failed = await db.Generations.Include(g => g.Images).SingleAsync(g => g.Id == drawing);
            Assert.Equal((GenerationState.Failed, "worker worker:gone:1 is gone (no heartbeat for 30 s); generate again", null), (failed.State, failed.Error, failed.Activity));
            Assert.NotNull(failed.FinishedAt);
            // The image drawn before the worker died stays; the one it was drawing fails with the generation.
            Assert.Equal([GenerationState.Completed, GenerationState.Failed], failed.Images.OrderBy(i => i.Id).Select(i => i.State));
            var cancelled = await db.Generations.Include(g => g.Images).SingleAsync(g => g.Id == cancelling);
            Assert.Equal((GenerationState.Cancelled, null), (cancelled.State, cancelled.Error));
            var evaluation = await db.Evaluations.SingleAsync(v => v.Id == evaluating);
            Assert.Equal((EvaluationState.Failed, "worker worker:gone:1 is gone (no heartbeat for 30 s); evaluate again"), (evaluation.State, evaluation.Error));
            var cancelledEvaluation = await db.Evaluations.SingleAsync(v => v.Id == cancellingEvaluation);
            Assert.Equal((EvaluationState.Cancelled, "cancelled", null), (cancelledEvaluation.State, cancelledEvaluation.Error, cancelledEvaluation.Activity));
        }
    }

    [Fact]
    public async Task OnSqliteALostRunIsQueuedAtOnceUnderANewJobAndItsOldJobDeleted()
    {
        // SQLite's queue would hand the dead worker's job out only after 30 minutes: the run gets a new job on its queue now.
        var s = await SetUpAsync();
        var lost = await AddRunAsync(s, RunState.Running, new Processing("worker:gone:1:abc"));
        string oldJob;
        await using (var db = s.Db.CreateDbContext()) oldJob = (await db.Runs.SingleAsync(r => r.Id == lost)).HangfireJobId!;
        var enqueuedBefore = s.Storage.GetMonitoringApi().EnqueuedCount("train");

        Assert.Equal(1, await s.Reconciler.ReconcileAsync());
        await using (var db = s.Db.CreateDbContext())
        {
            var run = await db.Runs.SingleAsync(r => r.Id == lost);
            Assert.Equal(RunState.Queued, run.State);
            Assert.NotEqual(oldJob, run.HangfireJobId);
            using var connection = s.Storage.GetConnection();
            Assert.Equal(EnqueuedState.StateName, connection.GetStateData(run.HangfireJobId!).Name);
            Assert.Equal(DeletedState.StateName, connection.GetStateData(oldJob).Name);
            Assert.Equal($"{lost}", connection.GetJobData(run.HangfireJobId!).Job.Args[0]?.ToString());
        }
        Assert.Equal(enqueuedBefore + 1, s.Storage.GetMonitoringApi().EnqueuedCount("train"));
        // Settled: the new job is enqueued, so the next pass leaves the queued run alone.
        Assert.Equal(0, await s.Reconciler.ReconcileAsync());
    }
}
