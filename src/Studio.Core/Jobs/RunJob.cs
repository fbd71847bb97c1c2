using Hangfire;
using Hangfire.States;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Core.Evaluations;
using Studio.Ml.Distillation;
using Studio.Core.Artifacts;

namespace Studio.Core.Jobs;

/// <summary>
/// The Hangfire job of a run: marks it running on this worker, hands it to the <see cref="IRunExecutor"/> with a
/// <see cref="RunReporter"/>, and records how it ended. Every metric and log line stays stored whatever the ending.
/// </summary>
public class RunJob(
    IDbContextFactory<StudioDbContext> dbFactory,
    IRunExecutor executor,
    IRunBroadcaster broadcaster,
    JobStorage storage,
    StudioOptions options,
    WorkerIdentity worker,
    IArtifactStore? artifacts = null,
    IEvaluationBroadcaster? evaluations = null)
{
    readonly IArtifactStore _artifacts = artifacts ?? new MountedArtifactStore(options);
    readonly RunWebhook _webhook = new(options);

    [AutomaticRetry(Attempts = 0)]
    public async Task Execute(int runId, CancellationToken ct)
    {
        RunExecution execution;
        AutoEvaluation evaluate;
        await using (var db = await dbFactory.CreateDbContextAsync(CancellationToken.None))
        {
            var run = await db.Runs.SingleOrDefaultAsync(r => r.Id == runId, CancellationToken.None);
            if (run is null || run.State is RunState.Completed or RunState.Cancelled or RunState.Failed) return;
            if (run.State == RunState.Stopping)
            {
                await FinishAsync(runId, RunState.Cancelled, null, "Cancelled before it started.");
                return;
            }
            // The worker checks the configuration again, as the form and the API did, before it opens any file it names:
            // the allowed folders may differ here, and files may have changed since the run was queued.
            if (RunConfigValidation.Check(run.ConfigYaml, new PathGuard(options), options.ResolvedDataDirectory) is { Count: > 0 } problems)
            {
                var refused = $"run configuration: {string.Join("; ", problems)}";
                await FinishAsync(runId, RunState.Failed, refused, $"Refused by {worker.Name}: {refused}");
                return;
            }
            var folder = run.ArtifactFolder ?? _artifacts.RunFolder(runId);
            Directory.CreateDirectory(folder);
            await _artifacts.PrepareAsync(folder, CancellationToken.None);
            // Hangfire hands a job out again when its worker died (killed, machine lost) while running it.
            var takenOver = run.State == RunState.Running && run.Worker is { } previous && previous != worker.Name ? previous : null;
            string? resume = null;
            if (run.ResumeCheckpointId is { } checkpointId)
                resume = (await db.Checkpoints.SingleOrDefaultAsync(c => c.Id == checkpointId, CancellationToken.None))?.Path
                         ?? throw new InvalidOperationException($"run {runId}: checkpoint {checkpointId} to resume from is gone");
            run.State = RunState.Running;
            run.Worker = worker.Name;
            run.ArtifactFolder = folder;
            run.StartedAt ??= DateTime.UtcNow;
            run.FinishedAt = null;
            run.Error = null;
            run.Activity = resume is null ? "starting" : "resuming";
            run.ActivityFraction = null;
            db.RunEvents.Add(new RunEvent
            {
                RunId = runId, Kind = "Started", Stage = run.Stage, Step = run.Step, Time = DateTime.UtcNow,
                Message = (takenOver is null ? "" : $"Worker {takenOver} was lost; ") +
                          $"Started on {worker.Name}" + (resume is null ? "" : $", resuming from {resume}"),
            });
            if (run.Group is null && RunConfig.FromYaml(run.ConfigYaml).Validation.Prune is var prune and not "none")
                db.RunEvents.Add(new RunEvent
                {
                    RunId = runId, Kind = nameof(TrainingEventKind.Warning), Stage = run.Stage, Step = run.Step, Time = DateTime.UtcNow,
                    Message = $"validation.prune: {prune} compares the run with the other runs of its group, and it has none, so it is never pruned (a sweep's runs share a group; a run's page sets one).",
                });
            await db.SaveChangesAsync(CancellationToken.None);
            await broadcaster.PublishAsync(RunBatch.OfStatus(RunStatus.Of(run)), CancellationToken.None);
            execution = new RunExecution(runId, run.ConfigYaml, folder, resume);
            evaluate = AutoEvaluation.Of(run);
        }

        JobOutcome outcome;
        var started = DateTime.UtcNow;
        var faults = 0; // Scalar faults since the run last wrote a checkpoint
        while (true)
        {
            var reporter = new RunReporter(runId, dbFactory, broadcaster, artifactFolder: execution.ArtifactFolder,
                spool: new MetricSpool(options.SpoolDirectory, runId), artifacts: _artifacts,
                checkpointStored: evaluate.EachCheckpoint ? () => EvaluateNewCheckpointsAsync(runId, evaluate.EffectiveSettings) : null);
            var current = execution;
            outcome = await JobOutcome.Of(async () =>
            {
                try { await executor.ExecuteAsync(current, reporter, ct); }
                finally { await reporter.DisposeAsync(); }
            }, IsUsersToFix, ct);
            if (outcome.Completed || outcome.Cancelled || !IsScalarFault(outcome.Error)) break;
            // The TorchSharp Scalar hazard (docs/ARCHITECTURE.md, "TorchSharp temporaries"): a fault of this process, not of the run.
            // A run that wrote a checkpoint since its last start made progress, so a long run survives any number of
            // faults far apart; only faults that keep coming without a new checkpoint fail it.
            var latest = await LatestCheckpointAsync(runId);
            faults = latest is not null && latest != execution.ResumeCheckpoint ? 1 : faults + 1;
            if (faults > MaxScalarFaultResumes) break;
            execution = execution with { ResumeCheckpoint = latest ?? execution.ResumeCheckpoint };
            await LogAsync(runId, nameof(TrainingEventKind.Warning),
                $"LibTorch read a freed Scalar (the TorchSharp hazard in docs/ARCHITECTURE.md); resuming in place from {latest ?? execution.ResumeCheckpoint ?? "the start"} " +
                $"({faults} of {MaxScalarFaultResumes} without a new checkpoint): {FirstLine(outcome.Error)}");
        }
        if (outcome.Cancelled && !await WasCancelledAsync(runId))
        {
            // The worker is shutting down: Hangfire hands the job out again, and the run resumes then.
            await FinishAsync(runId, RunState.Queued, null, "Interrupted: the worker stopped. The run continues when a worker takes it again.");
            throw new OperationCanceledException(ct);
        }
        if (outcome.Completed) await FinishAsync(runId, RunState.Completed, null, await StoppedEarlyAsync(runId, since: started) is { } early ? $"Completed: {early}." : "Completed.");
        else if (outcome.Cancelled) await FinishAsync(runId, RunState.Cancelled, null, "Cancelled.");
        else await FinishAsync(runId, RunState.Failed, outcome.Error, $"Failed: {outcome.Error}");
    }

    /// <summary>
    /// A failure the run's settings or files caused, said by its message alone: an unsupported or invalid setting (a
    /// device this build cannot use), a missing or invalid file, a run that diverged. Any other names its type.
    /// </summary>
    public static bool IsUsersToFix(Exception e) => JobOutcome.IsBadRequest(e) || e is TrainingDivergedException;

    /// <summary>How many times in a row a run resumes in place after a Scalar fault, without writing a new checkpoint in between, before it fails.</summary>
    public const int MaxScalarFaultResumes = 2;

    /// <summary>
    /// The ways LibTorch reports a Scalar that TorchSharp's finalizer freed during a kernel (docs/ARCHITECTURE.md, "TorchSharp
    /// temporaries and the garbage collector"): its type read from freed memory as none known, as not a float where one
    /// was read, or as a float for the alpha of an integer tensor's add; any other error is the run's own and fails it at once.
    /// </summary>
    public static bool IsScalarFault(string? error) =>
        error is not null && (error.Contains("c10/core/Scalar.h", StringComparison.Ordinal) || error.Contains("Unknown scalar type", StringComparison.Ordinal)
                              || error.Contains("argument alpha must not be a floating point number", StringComparison.Ordinal));

    static string FirstLine(string? text) => (text ?? "").Split('\n', 2)[0].Trim();

    /// <summary>Why the trainer stopped the run before its last update (validation.patience), when it did in this job.</summary>
    async Task<string?> StoppedEarlyAsync(int runId, DateTime since)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var kind = nameof(TrainingEventKind.StoppedEarly);
        return await db.RunEvents.Where(e => e.RunId == runId && e.Kind == kind && e.Time >= since).OrderByDescending(e => e.Id).Select(e => e.Message).FirstOrDefaultAsync();
    }

    async Task<string?> LatestCheckpointAsync(int runId)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        return await db.Checkpoints.Where(c => c.RunId == runId).OrderByDescending(c => c.Step).Select(c => c.Path).FirstOrDefaultAsync();
    }

    async Task LogAsync(int runId, string kind, string message)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var run = await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId);
        if (run is null) return;
        var e = new RunEvent { RunId = runId, Kind = kind, Stage = run.Stage, Step = run.Step, Message = message, Time = DateTime.UtcNow };
        db.RunEvents.Add(e);
        await db.SaveChangesAsync();
        await broadcaster.PublishAsync(new RunBatch(runId, [], [], [e], null));
    }

    /// <summary>A cancellation of the token is the user's when they asked (state Stopping) or the job was deleted.</summary>
    async Task<bool> WasCancelledAsync(int runId)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var run = await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId);
        if (run is null || run.State == RunState.Stopping) return true;
        if (run.HangfireJobId is null) return false;
        using var connection = storage.GetConnection();
        return connection.GetStateData(run.HangfireJobId)?.Name == DeletedState.StateName;
    }

    async Task FinishAsync(int runId, RunState state, string? error, string message)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var run = await db.Runs.SingleOrDefaultAsync(r => r.Id == runId);
        if (run is null) return;
        run.State = state;
        run.Error = error;
        run.Activity = state == RunState.Queued ? "waiting for a worker" : null;
        run.ActivityFraction = null;
        // Taken again after an interruption, the run continues from the last checkpoint it wrote.
        if (state == RunState.Queued &&
            await db.Checkpoints.Where(c => c.RunId == runId).OrderByDescending(c => c.Step).FirstOrDefaultAsync() is { } latest)
            run.ResumeCheckpointId = latest.Id;
        if (state != RunState.Queued) { run.FinishedAt = DateTime.UtcNow; run.EtaSeconds = null; }
        var e = new RunEvent
        {
            RunId = runId, Kind = state == RunState.Failed ? nameof(TrainingEventKind.Error) : state.ToString(),
            Stage = run.Stage, Step = run.Step, Message = message, Time = DateTime.UtcNow,
        };
        db.RunEvents.Add(e);
        await db.SaveChangesAsync();
        await broadcaster.PublishAsync(new RunBatch(runId, [], [], [e], RunStatus.Of(run)));
        // A checkpoint the trainer held past checkpoints.keep for an evaluation that ended while the run still trained
        // was left to the run's end (the evaluation found the run active): it goes now.
        if (state != RunState.Queued) await CheckpointRetention.ReleaseAsync(dbFactory, runId, broadcaster);
        await _webhook.AnnounceAsync(run, dbFactory, broadcaster);
        // A run that evaluates each checkpoint has queued its last one's evaluation already.
        if (state == RunState.Completed && run.EvaluateWhenDone && !run.EvaluateEachCheckpoint) await EvaluateLastCheckpointAsync(runId, AutoEvaluation.Of(run).EffectiveSettings);
        if (state is RunState.Completed or RunState.Failed && run.Group is { } group) await ContinueSweepAsync(runId, group);
    }

    /// <summary>A run asked to be evaluated when done: its last checkpoint's evaluation is queued (its log says which, or why not).</summary>
    async Task EvaluateLastCheckpointAsync(int runId, EvaluationSettings settings)
    {
        try
        {
            var service = NewEvaluationService();
            await EvaluateTeacherOnceAsync(runId, service, settings);
            var queued = (await service.RequestLatestCheckpointsAsync([runId], settings)).Single();
            await LogAsync(runId, "Info", $"Evaluation of the step {queued.Step} checkpoint queued ({queued.SettingsKey}), as the run asked when done.");
            await WarnWhenNoWorkerEvaluatesAsync(runId);
        }
        catch (Exception e) when (e is RunActionException or InvalidOperationException or IOException)
        {
            await LogAsync(runId, nameof(TrainingEventKind.Warning), $"The run asked to be evaluated when done, but it could not be: {e.Message}");
        }
    }

    /// <summary>
    /// A run that evaluates each checkpoint: every checkpoint of it that has no evaluation yet gets one queued (with the
    /// run's <paramref name="settings"/>), right after the trainer stored it and before its next prune; each is said in the run's log.
    /// </summary>
    async Task EvaluateNewCheckpointsAsync(int runId, EvaluationSettings settings)
    {
        List<int> fresh;
        await using (var db = await dbFactory.CreateDbContextAsync())
            fresh = await db.Checkpoints.Where(c => c.RunId == runId && !db.Evaluations.Any(v => v.CheckpointId == c.Id))
                .OrderBy(c => c.Step).Select(c => c.Id).ToListAsync();
        var service = NewEvaluationService();
        if (fresh.Count > 0) await EvaluateTeacherOnceAsync(runId, service, settings);
        foreach (var checkpointId in fresh)
        {
            try
            {
                var queued = await service.RequestCheckpointAsync(checkpointId, settings);
                await LogAsync(runId, "Info", $"Evaluation of the step {queued.Step} checkpoint queued ({queued.SettingsKey}), as the run asked for each checkpoint.");
                await WarnWhenNoWorkerEvaluatesAsync(runId);
            }
            catch (Exception e) when (e is RunActionException or InvalidOperationException or IOException)
            {
                await LogAsync(runId, nameof(TrainingEventKind.Warning), $"The run asked for each checkpoint to be evaluated, but checkpoint {checkpointId} could not be: {e.Message}");
            }
        }
    }

    bool _warnedNoEvaluationWorker;

    /// <summary>
    /// Once per execution, when no live worker serves the evaluations' queue: the evaluations wait, and the checkpoints
    /// they hold stay past checkpoints.keep until one does; the run's log says so and how to start one.
    /// </summary>
    async Task WarnWhenNoWorkerEvaluatesAsync(int runId)
    {
        if (_warnedNoEvaluationWorker) return;
        bool served;
        try { served = storage.GetMonitoringApi().Servers().Any(s => s.Queues?.Contains(EvaluationService.Queue) == true); }
        catch (Exception e) when (e is InvalidOperationException or IOException or System.Data.Common.DbException) { return; }
        if (served) return;
        _warnedNoEvaluationWorker = true;
        await LogAsync(runId, nameof(TrainingEventKind.Warning),
            $"No worker serves the evaluations' queue ({EvaluationService.Queue}) now: the evaluations wait, and the checkpoints they hold stay past " +
            $"checkpoints.keep until a worker that serves `{Generations.GenerationService.Queue}` (Studio:Queues) evaluates them.");
    }

    /// <summary>Where the run's own evaluations are queued (this worker's storage; pages hear of them through <c>evaluations</c> when given).</summary>
    EvaluationService NewEvaluationService() => new(dbFactory, new BackgroundJobClient(storage), evaluations ?? new EvaluationFeed(), options);

    /// <summary>A run that evaluates its checkpoints has its teacher evaluated once with the same settings (<see cref="EvaluationService.RequestRunTeacherOnceAsync"/>).</summary>
    async Task EvaluateTeacherOnceAsync(int runId, EvaluationService service, EvaluationSettings settings)
    {
        try
        {
            if (await service.RequestRunTeacherOnceAsync(runId, settings) is { } teacher)
                await LogAsync(runId, "Info", $"Evaluation of the teacher ({teacher.Pipeline}) queued ({teacher.SettingsKey}): the reference of the checkpoints' evaluations.");
        }
        catch (Exception e) when (e is RunActionException or InvalidOperationException or IOException)
        {
            await LogAsync(runId, nameof(TrainingEventKind.Warning), $"The teacher could not be evaluated beside the checkpoints: {e.Message}");
        }
    }

    /// <summary>A run of a Bayesian sweep that finished makes room for the sweep's next run (<see cref="RunService.ContinueSweepAsync"/>).</summary>
    async Task ContinueSweepAsync(int runId, string group)
    {
        try
        {
            string? stopped = null;
            await new RunService(dbFactory, new BackgroundJobClient(storage), broadcaster, options).ContinueSweepAsync(group, stopped: why => stopped = why);
            if (stopped is not null) await LogAsync(runId, nameof(TrainingEventKind.Warning), stopped);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The run's own result stands; the sweep goes on when another of its runs finishes.
            await LogAsync(runId, nameof(TrainingEventKind.Warning), $"Bayesian sweep '{group}' could not queue its next run: {e.GetType().Name}: {e.Message}");
        }
    }
}
