using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Ml.Distillation;
using Studio.Core.Artifacts;
using Studio.Core.Runs;

namespace Studio.Core.Live;

public sealed class RunReporterOptions
{
    /// <summary>Points are written at least this often while a run reports.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>A flush starts early when this many points are waiting.</summary>
    public int MaxBatch { get; init; } = 200;
}

/// <summary>
/// The studio's <see cref="ITrainingReporter"/>: the trainer calls it once per update (cheap: it only queues); a
/// background task writes the queued points to the database in batches, keyed by (run, stage, step) so that a
/// re-delivered point replaces its row instead of duplicating it, then publishes each stored batch to the browsers.
/// Events are flushed promptly. A failed write keeps the batch and retries it; nothing is dropped. With a
/// <see cref="MetricSpool"/>, everything reported is also appended to a local file first, so what the database has
/// not accepted yet survives the worker's death or a database that stays unreachable past the run's end.
/// </summary>
public sealed class RunReporter : ITrainingReporter, IAsyncDisposable
{
    static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    readonly int _runId;
    readonly IDbContextFactory<StudioDbContext> _dbFactory;
    readonly IRunBroadcaster _broadcaster;
    readonly RunReporterOptions _options;
    readonly string? _artifactFolder;
    readonly MetricSpool? _spool;
    readonly IArtifactStore? _artifacts;
    readonly Func<Task>? _checkpointStored;
    long _spooled;
    readonly object _lock = new();
    readonly SemaphoreSlim _wake = new(0, 1);
    readonly SemaphoreSlim _flushGate = new(1, 1);
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;
    List<MetricPoint> _metrics = [];
    List<ValidationPoint> _validation = [];
    List<(TrainingEvent Event, RunEvent Row)> _events = [];
    long _totalSteps;
    TimeSpan? _eta;

    /// <summary>The last write error, if the database refused a batch (it is retried on the next flush).</summary>
    public Exception? LastError { get; private set; }

    public RunReporter(int runId, IDbContextFactory<StudioDbContext> dbFactory, IRunBroadcaster broadcaster,
        RunReporterOptions? options = null, string? artifactFolder = null, MetricSpool? spool = null,
        IArtifactStore? artifacts = null, Func<Task>? checkpointStored = null)
    {
        _artifacts = artifacts;
        _checkpointStored = checkpointStored;
        _runId = runId; _dbFactory = dbFactory; _broadcaster = broadcaster; _options = options ?? new();
        _artifactFolder = artifactFolder;
        _spool = spool;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>validation.prune, against the other runs of this run's group (<see cref="GroupPruning"/>); a database that cannot answer never stops a run.</summary>
    public string? Prune(PruneQuestion question)
    {
        try { return GroupPruning.Decide(_dbFactory, _runId, question); }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            Event(new TrainingEvent(TrainingEventKind.Warning, 0, question.Step, $"validation.prune: the other runs could not be read, so the run goes on ({e.Message})"));
            return null;
        }
    }

    /// <summary>
    /// A checkpoint with an evaluation of it queued or running is held past checkpoints.keep (the trainer leaves it; a
    /// later prune, or <see cref="CheckpointRetention"/> after the run, deletes it). A database that cannot answer holds
    /// it: a checkpoint kept too long costs disk, one deleted too soon loses its evaluation.
    /// </summary>
    public bool Holds(string checkpoint)
    {
        var path = RunArtifacts.FullPath(_artifactFolder, checkpoint);
        try
        {
            using var db = _dbFactory.CreateDbContext();
            return CheckpointRetention.Held(db, _runId).Contains(path);
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            LastError = e;
            return true;
        }
    }

    public void Update(UpdateMetrics m)
    {
        var point = new MetricPoint
        {
            RunId = _runId, Stage = m.Stage, Step = m.Step, Time = m.Time, ElapsedSeconds = m.Elapsed.TotalSeconds,
            Loss = Finite(m.Loss), LearningRate = m.LearningRate, GradientNorm = Finite(m.GradientNorm),
            UpdatesPerSecond = m.UpdatesPerSecond, PromptsPerSecond = m.PromptsPerSecond,
            ProcessMemoryBytes = m.ProcessMemoryBytes, CudaMemoryBytes = m.CudaMemoryBytes,
            LossBySigmaBucketJson = m.LossBySigmaBucket.Count > 0 ? JsonSerializer.Serialize(m.LossBySigmaBucket, Json) : null,
            LossByCategoryJson = m.LossByCategory.Count > 0 ? JsonSerializer.Serialize(m.LossByCategory, Json) : null,
            GradNormByModuleJson = m.GradientNormByModule.Count > 0 ? JsonSerializer.Serialize(m.GradientNormByModule, Json) : null,
        };
        lock (_lock)
        {
            Spool(metric: point);
            _metrics.Add(point);
            _totalSteps = m.TotalSteps;
            _eta = m.Eta;
            if (_metrics.Count >= _options.MaxBatch) Wake();
        }
    }

    public void Validation(ValidationMetrics v)
    {
        lock (_lock)
            foreach (var (category, score) in v.ByCategory)
            {
                var point = new ValidationPoint
                {
                    RunId = _runId, Stage = v.Stage, Step = v.Step, Category = category, Time = v.Time,
                    VisionLoss = Finite(score.VisionLoss), EmbeddingCosine = Finite(score.EmbeddingCosine),
                };
                Spool(validation: point);
                _validation.Add(point);
            }
    }

    public void Event(TrainingEvent e)
    {
        // A checkpoint or sample is committed to the artifact store before the studio records it (on the trainer's
        // thread: the run goes on once it is stored). The mounted store has nothing to do.
        if (_artifacts is not null && e.Kind is TrainingEventKind.CheckpointWritten or TrainingEventKind.SampleReady
            && e.Data?.GetValueOrDefault(TrainingEventData.Path) is { } artifact)
            _artifacts.CommitAsync(_artifactFolder is null ? artifact : Path.Combine(_artifactFolder, artifact), CancellationToken.None).GetAwaiter().GetResult();
        var row = new RunEvent
        {
            RunId = _runId, Kind = e.Kind.ToString(), Stage = e.Stage, Step = e.Step, Message = e.Message, Time = e.Time,
            DataJson = e.Data is { Count: > 0 } ? JsonSerializer.Serialize(e.Data) : null,
        };
        lock (_lock)
        {
            Spool(e: row);
            _events.Add((e, row));
            Wake();
        }
        // Every point up to a checkpoint is stored before training goes past it: a run resumed from this checkpoint
        // elsewhere then has no gap, even if this worker dies now. (A database that refuses leaves them in the spool.)
        if (e.Kind == TrainingEventKind.CheckpointWritten)
        {
            try { FlushAsync().GetAwaiter().GetResult(); } catch (Exception error) { LastError = error; }
            // Stored, the checkpoint can be evaluated (a run that evaluates each checkpoint) before the next prune asks.
            try { _checkpointStored?.Invoke().GetAwaiter().GetResult(); } catch (Exception error) { LastError = error; }
        }
    }

    /// <summary>Appends to the spool (under the lock); a spool that cannot be written is reported, never fatal to the run.</summary>
    void Spool(MetricPoint? metric = null, ValidationPoint? validation = null, RunEvent? e = null)
    {
        if (_spool is null) return;
        try { _spooled = _spool.Append(metric, validation, e, _artifactFolder); }
        catch (IOException error) { LastError = error; }
    }

    static double? Finite(double x) => double.IsFinite(x) ? x : null;

    void Wake()
    {
        if (_wake.CurrentCount == 0) try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { await _wake.WaitAsync(_options.FlushInterval, _stop.Token); }
            catch (OperationCanceledException) { break; }
            try { await FlushAsync(); }
            catch (Exception e) { LastError = e; }
        }
    }

    /// <summary>Writes everything queued so far, then publishes it. On failure the batch goes back to the queue.</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        await _flushGate.WaitAsync(ct);
        try
        {
            List<MetricPoint> metrics; List<ValidationPoint> validation; List<(TrainingEvent Event, RunEvent Row)> events;
            long totalSteps; TimeSpan? eta; long spooled;
            lock (_lock)
            {
                if (_metrics.Count == 0 && _validation.Count == 0 && _events.Count == 0) return;
                spooled = _spooled;
                try { _spool?.Sync(); } catch (IOException error) { LastError = error; }
                (metrics, _metrics) = (_metrics, []);
                (validation, _validation) = (_validation, []);
                (events, _events) = (_events, []);
                (totalSteps, eta) = (_totalSteps, _eta);
            }
            RunStatus? status;
            try
            {
                status = await WriteAsync(metrics, validation, events, totalSteps, eta, ct);
            }
            catch
            {
                lock (_lock)
                {
                    metrics.AddRange(_metrics); _metrics = metrics;
                    validation.AddRange(_validation); _validation = validation;
                    events.AddRange(_events); _events = events;
                }
                throw;
            }
            LastError = null;
            lock (_lock)
                try { _spool?.Acknowledge(spooled); } catch (IOException error) { LastError = error; }
            await _broadcaster.PublishAsync(new RunBatch(_runId, metrics, validation, events.Select(e => e.Row).ToList(), status), ct);
        }
        finally { _flushGate.Release(); }
    }

    async Task<RunStatus?> WriteAsync(List<MetricPoint> metrics, List<ValidationPoint> validation,
        List<(TrainingEvent Event, RunEvent Row)> events, long totalSteps, TimeSpan? eta, CancellationToken ct)
    {
        await using var db = await _dbFactory.CreateDbContextAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // Within a batch the last report of a step wins, as it would across batches.
        var uniqueMetrics = metrics.GroupBy(p => (p.Stage, p.Step)).Select(g => g.Last()).ToList();
        await SqlUpsert.ExecuteAsync(db, tx, uniqueMetrics, [nameof(MetricPoint.RunId), nameof(MetricPoint.Stage), nameof(MetricPoint.Step)], ct);
        var uniqueValidation = validation.GroupBy(p => (p.Stage, p.Step, p.Category)).Select(g => g.Last()).ToList();
        await SqlUpsert.ExecuteAsync(db, tx, uniqueValidation,
            [nameof(ValidationPoint.RunId), nameof(ValidationPoint.Stage), nameof(ValidationPoint.Step), nameof(ValidationPoint.Category)], ct);

        // Fresh rows each attempt: a failed attempt must not leave ids on them.
        foreach (var e in events) e.Row.Id = 0;
        db.RunEvents.AddRange(events.Select(e => e.Row));
        foreach (var (_, row) in events) await RunArtifacts.RecordAsync(db, row, _artifactFolder, ct);

        var run = await db.Runs.SingleOrDefaultAsync(r => r.Id == _runId, ct);
        if (run is not null)
        {
            if (uniqueMetrics.Count > 0)
            {
                var last = uniqueMetrics.MaxBy(p => p.Step)!;
                run.ActivityFraction = null; // training: the bar counts updates
                if (last.Step >= run.Step)
                {
                    run.Stage = last.Stage; run.Step = last.Step; run.LastLoss = last.Loss;
                    run.UpdatesPerSecond = last.UpdatesPerSecond;
                    run.EtaSeconds = eta?.TotalSeconds;
                }
                if (totalSteps > 0) run.TotalSteps = totalSteps;
            }
            foreach (var (e, _) in events)
            {
                if (e.Kind == TrainingEventKind.StageStarted) run.Stage = e.Stage;
                if (e.Kind is TrainingEventKind.Progress or TrainingEventKind.StageStarted or TrainingEventKind.Resumed)
                {
                    run.Activity = e.Message;
                    // The list pages' bar: the counted activity's share (filling the cache), none for an activity without counts.
                    run.ActivityFraction = e.Kind == TrainingEventKind.Progress && uniqueMetrics.Count == 0
                        && long.TryParse(e.Data?.GetValueOrDefault(TrainingEventData.Done), System.Globalization.CultureInfo.InvariantCulture, out var done)
                        && long.TryParse(e.Data?.GetValueOrDefault(TrainingEventData.Total), System.Globalization.CultureInfo.InvariantCulture, out var total) && total > 0
                        ? Math.Clamp((double)done / total, 0, 1) : null;
                }
                // A counted activity before training (filling the cache) says how long it has left: the page's ETA until
                // updates come; the next activity without a count (loading the models) has no ETA, not the fill's last one.
                if (e.Kind == TrainingEventKind.Progress && uniqueMetrics.Count == 0)
                    run.EtaSeconds = e.Data?.GetValueOrDefault(TrainingEventData.EtaSeconds) is { } left
                        && double.TryParse(left, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
                        ? seconds : null;
            }
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return run is null ? null : RunStatus.Of(run);
    }

    /// <summary>The size of a file, or of every file under a folder.</summary>
    public static long SizeOnDisk(string path) =>
        File.Exists(path) ? new FileInfo(path).Length
        : Directory.Exists(path) ? new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length)
        : 0;

    /// <summary>
    /// Stops the background task after a last flush (retried a few times if the database is busy). When the database
    /// still refuses, a spooled reporter leaves its file for a later delivery and returns; without a spool it throws.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _loop; } catch (OperationCanceledException) { }
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                try { await FlushAsync(); break; }
                catch (Exception e) when (attempt < 5 || _spool is not null)
                {
                    LastError = e;
                    if (attempt >= 5) break;
                    await Task.Delay(200 * attempt);
                }
            }
        }
        finally
        {
            lock (_lock) _spool?.Dispose();
            _stop.Dispose();
        }
    }

    /// <summary>The spool file still holding undelivered records after disposal, if any.</summary>
    public string? UndeliveredSpool => _spool is { AllDelivered: false } s ? s.Path : null;
}
