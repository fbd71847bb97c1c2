using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Studio.Core.Data;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;

namespace Studio.Core.Queue;

/// <summary>
/// Keeps each run's state true to Hangfire's job state and the workers' heartbeats, so no crash leaves a run in a
/// false state:
/// <list type="bullet">
/// <item>a running run whose worker is gone (no heartbeat for Studio:WorkerTimeoutSeconds) goes back to Queued when
/// Hangfire will hand its job out again (it resumes from its last checkpoint), and to Failed when its job is finished
/// or gone;</item>
/// <item>a stopping run whose worker is gone, or that has been stopping for longer than <see cref="StoppingLimit"/>,
/// is Cancelled (its checkpoints stay);</item>
/// <item>a queued run whose job was deleted or finished without running it is Failed.</item>
/// </list>
/// On SQLite, Hangfire's queue hands out a job its dead worker had taken only after 30 minutes (the SQLite storage has
/// no sliding invisibility to shorten it safely), so a run whose worker is gone is queued at once under a new job and
/// its old job deleted (a fetch of it later finds it deleted and does nothing); on PostgreSQL the old job is handed out
/// again after Studio:Hangfire:InvisibilityTimeoutSeconds.
/// Each change is a conditional update (the run is still in the state and on the worker it was seen with), so a
/// worker that takes the run meanwhile wins, and several web hosts may reconcile at once.
/// </summary>
public sealed class RunReconciler(JobStorage storage, IDbContextFactory<StudioDbContext> dbFactory, IRunBroadcaster broadcaster, StudioOptions options)
{
    public static readonly TimeSpan StoppingLimit = TimeSpan.FromMinutes(10);
    readonly RunWebhook _webhook = new(options);
    readonly BackgroundJobClient _jobs = new(storage);

    TimeSpan WorkerTimeout => TimeSpan.FromSeconds(Math.Max(options.WorkerTimeoutSeconds, 2 * options.HeartbeatSeconds));

    /// <summary>One pass; returns the number of runs, generations and evaluations it changed.</summary>
    public async Task<int> ReconcileAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var runs = await db.Runs.AsNoTracking().Where(r => r.State == RunState.Running || r.State == RunState.Stopping || r.State == RunState.Queued)
            .ToListAsync(ct);
        var generations = await db.Generations.Include(g => g.Images).Where(g => g.State == GenerationState.Running).ToListAsync(ct);
        var evaluations = await db.Evaluations.Where(v => v.State == EvaluationState.Running).ToListAsync(ct);
        if (runs.Count == 0 && generations.Count == 0 && evaluations.Count == 0) return 0;

        var now = DateTime.UtcNow;
        var servers = storage.GetMonitoringApi().Servers();
        bool Alive(string? worker) => worker is not null && servers.Any(s =>
            (s.Name.Equals(worker, StringComparison.OrdinalIgnoreCase) || s.Name.StartsWith(worker + ":", StringComparison.OrdinalIgnoreCase))
            && s.Heartbeat is { } beat && now - DateTime.SpecifyKind(beat, DateTimeKind.Utc) < WorkerTimeout);
        var changedWork = await EndLostWorkAsync(db, generations, evaluations, Alive, ct);
        string? JobState(string? jobId)
        {
            if (jobId is null) return null;
            using var connection = storage.GetConnection();
            return connection.GetStateData(jobId)?.Name;
        }

        var changed = 0;
        foreach (var run in runs)
        {
            var job = JobState(run.HangfireJobId);
            var jobOver = job is null || job == SucceededState.StateName || job == FailedState.StateName || job == DeletedState.StateName;
            var stoppingSince = run.State == RunState.Stopping ? await StoppingSinceAsync(db, run.Id, ct) : null;
            var (state, message) = run.State switch
            {
                RunState.Running when !Alive(run.Worker) && !jobOver =>
                    (RunState.Queued, $"Worker {run.Worker} is gone (no heartbeat for {WorkerTimeout.TotalSeconds:0} s); the run resumes from its last checkpoint when another worker takes it."),
                RunState.Running when !Alive(run.Worker) =>
                    (RunState.Failed, $"Worker {run.Worker} is gone and the run's job is {job?.ToLowerInvariant() ?? "gone"}."),
                RunState.Stopping when !Alive(run.Worker) =>
                    (RunState.Cancelled, $"Cancelled: worker {run.Worker ?? "(none)"} is gone; the checkpoints written so far are kept."),
                RunState.Stopping when stoppingSince is { } since && now - since > StoppingLimit =>
                    (RunState.Cancelled, $"Cancelled: the run did not stop within {StoppingLimit.TotalMinutes:0} minutes on {run.Worker}."),
                RunState.Queued when run.HangfireJobId is not null && jobOver && job is not null =>
                    (RunState.Failed, $"The run's queue job is {job.ToLowerInvariant()}, so no worker will take it; resume it to queue it again."),
                _ => (run.State, null as string),
            };
            if (message is null) continue;
            if (await ApplyAsync(db, run, state, message, ct)) changed++;
        }
        return changed + changedWork;
    }

    /// <summary>
    /// Generations and evaluations running on a worker that is gone end, each with a message saying so (cancelled if a
    /// cancel was asked meanwhile, else failed: draw or evaluate again); nothing else would ever end them, and a cancel
    /// of one only deletes its job. The live tailer publishes the change to the pages.
    /// </summary>
    async Task<int> EndLostWorkAsync(StudioDbContext db, List<Generation> running, List<CheckpointEvaluation> evaluating, Func<string?, bool> alive, CancellationToken ct)
    {
        var changed = 0;
        var now = DateTime.UtcNow;
        string Gone(string worker, string again) => $"worker {worker} is gone (no heartbeat for {WorkerTimeout.TotalSeconds:0} s); {again}";
        foreach (var g in running)
        {
            if (g.Worker is null || alive(g.Worker)) continue;
            var cancelled = g.Activity == JobProgress.Cancelling;
            var error = cancelled ? null : Gone(g.Worker, "generate again");
            g.State = cancelled ? GenerationState.Cancelled : GenerationState.Failed;
            (g.Error, g.Activity, g.FinishedAt) = (error, null, now);
            foreach (var image in g.Images.Where(i => i.State is GenerationState.Queued or GenerationState.Running))
                (image.State, image.Error) = (g.State, error);
            changed++;
        }
        foreach (var v in evaluating)
        {
            if (v.Worker is null || alive(v.Worker)) continue;
            (v.State, v.Error) = v.Activity == JobProgress.Cancelling
                ? (EvaluationState.Cancelled, "cancelled")
                : (EvaluationState.Failed, Gone(v.Worker, "evaluate again"));
            (v.Activity, v.FinishedAt) = (null, now);
            changed++;
        }
        if (changed > 0) await db.SaveChangesAsync(ct);
        return changed;
    }

    static async Task<DateTime?> StoppingSinceAsync(StudioDbContext db, int runId, CancellationToken ct) =>
        await db.RunEvents.Where(e => e.RunId == runId && e.Kind == nameof(RunState.Stopping))
            .OrderByDescending(e => e.Id).Select(e => (DateTime?)e.Time).FirstOrDefaultAsync(ct);

    async Task<bool> ApplyAsync(StudioDbContext db, Run seen, RunState state, string message, CancellationToken ct)
    {
        var runId = seen.Id;
        var newJob = state == RunState.Queued && options.HangfireProvider != StorageProviders.Postgres
            ? _jobs.Create(Job.FromExpression<Jobs.RunJob>(j => j.Execute(runId, CancellationToken.None)), new EnqueuedState(seen.Queue))
            : null;
        var resumeFrom = state == RunState.Queued
            ? await db.Checkpoints.Where(c => c.RunId == seen.Id).OrderByDescending(c => c.Step).Select(c => (int?)c.Id).FirstOrDefaultAsync(ct)
            : null;
        var finished = state is RunState.Queued ? (DateTime?)null : DateTime.UtcNow;
        var activity = state == RunState.Queued ? "waiting for a worker" : null;
        var error = state == RunState.Failed ? message : seen.Error;
        var updated = await db.Runs
            .Where(r => r.Id == seen.Id && r.State == seen.State && r.Worker == seen.Worker && r.HangfireJobId == seen.HangfireJobId)
            .ExecuteUpdateAsync(u => u
                .SetProperty(r => r.State, state)
                .SetProperty(r => r.Activity, activity)
                .SetProperty(r => r.Error, error)
                .SetProperty(r => r.FinishedAt, finished)
                .SetProperty(r => r.ResumeCheckpointId, r => resumeFrom ?? r.ResumeCheckpointId)
                .SetProperty(r => r.HangfireJobId, r => newJob ?? r.HangfireJobId), ct);
        if (updated == 0)
        {
            if (newJob is not null) _jobs.ChangeState(newJob, new DeletedState(), null); // another host (or the worker) won
            return false;
        }
        if (newJob is not null && seen.HangfireJobId is { } oldJob) _jobs.ChangeState(oldJob, new DeletedState(), null);
        var e = new RunEvent
        {
            RunId = seen.Id, Kind = state == RunState.Queued ? "WorkerLost" : state.ToString(), Stage = seen.Stage, Step = seen.Step,
            Message = message, Time = DateTime.UtcNow,
        };
        db.RunEvents.Add(e);
        await db.SaveChangesAsync(ct);
        var run = await db.Runs.AsNoTracking().SingleAsync(r => r.Id == seen.Id, ct);
        await broadcaster.PublishAsync(new RunBatch(run.Id, [], [], [e], RunStatus.Of(run)), ct);
        await _webhook.AnnounceAsync(run, dbFactory, broadcaster, ct); // only the host whose update won gets here
        return true;
    }
}

/// <summary>Runs <see cref="RunReconciler"/> every heartbeat interval in the web host.</summary>
public sealed class RunReconcilerService(RunReconciler reconciler, StudioOptions options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(Math.Max(1, options.HeartbeatSeconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await reconciler.ReconcileAsync(stoppingToken); }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception e) { Console.Error.WriteLine($"run reconciliation failed (retried): {e.Message}"); }
            try { await Task.Delay(interval, stoppingToken); } catch (OperationCanceledException) { break; }
        }
    }
}
