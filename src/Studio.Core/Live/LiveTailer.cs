using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Queue;

namespace Studio.Core.Live;

/// <summary>
/// The web host's one bridge to what other processes do (Studio.Worker on other machines, other web hosts): every half
/// second it reads what they stored since the last look and publishes it to this host's feeds, exactly as this process's
/// own reporters and jobs publish their work, so pages only subscribe and never poll.
/// - Runs: metric points past the last step published, log lines past the last id, a changed status, runs created
///   elsewhere. After a "Resumed" line the step mark goes back to the resumed step, so re-reported steps are published
///   again (pages merge points by step).
/// - Generations and evaluations that another process queued or runs: each change of state, progress or image.
/// - Every <see cref="PulseInterval"/>: the run counts, queues and workers (<see cref="StudioPulse"/>).
/// Workers therefore need no connection to any web host; every web host tails the shared database.
/// </summary>
public sealed class LiveTailer(
    IDbContextFactory<StudioDbContext> dbFactory,
    IRunBroadcaster runs,
    IGenerationBroadcaster generations,
    IEvaluationBroadcaster evaluations,
    PulseFeed? pulse = null,
    QueueStatus? queue = null,
    WorkerIdentity? local = null) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan PulseInterval = TimeSpan.FromSeconds(2);

    sealed class Marks { public long Step; public long EventId; public RunStatus? Status; }
    readonly Dictionary<int, Marks> _marks = [];
    int? _lastRunId;
    readonly Dictionary<int, string> _generations = [];
    readonly Dictionary<int, string> _evaluations = [];
    DateTime _lastPulse = DateTime.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await TailAsync(stoppingToken); }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception e) { Console.Error.WriteLine($"live tailing failed (retried): {e.Message}"); }
            try { await Task.Delay(Interval, stoppingToken); } catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>One pass: runs, generations, evaluations, and the pulse when it is due.</summary>
    public async Task TailAsync(CancellationToken ct = default)
    {
        await TailRunsAsync(ct);
        await TailGenerationsAsync(ct);
        await TailEvaluationsAsync(ct);
        if (pulse is not null && queue is not null && DateTime.UtcNow - _lastPulse >= PulseInterval)
        {
            _lastPulse = DateTime.UtcNow;
            // The work list (three table reads) only while a page listens; the Queue page reads it itself when it opens.
            var work = pulse.HasSubscribers ? await queue.ActiveWorkAsync(ct) : null;
            await pulse.PublishAsync(new StudioPulse(await queue.CountsAsync(ct), queue.Workers(), queue.Queues(), _lastPulse, work));
        }
    }

    bool RunsHere(string? worker) => local is not null && worker == local.Name;

    /// <summary>The runs that are queued, running or stopping, and those created since the last pass.</summary>
    public async Task TailRunsAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var firstPass = _lastRunId is null;
        var lastRunId = _lastRunId ?? 0;
        var tracked = _marks.Keys.ToList();
        var rows = await db.Runs.AsNoTracking()
            .Where(r => r.State == RunState.Queued || r.State == RunState.Running || r.State == RunState.Stopping
                        || tracked.Contains(r.Id) || r.Id > lastRunId)
            .ToListAsync(ct);
        _lastRunId = Math.Max(lastRunId, rows.Count == 0 ? await db.Runs.MaxAsync(r => (int?)r.Id, ct) ?? 0 : rows.Max(r => r.Id));
        foreach (var id in _marks.Keys.Except(rows.Select(r => r.Id)).ToList()) _marks.Remove(id);
        // Each run's newest log line, in one query: only a run with a line past its mark is read further, so a sweep of
        // a thousand queued runs costs one query a pass, not two thousand (22% of a core while nothing happened).
        var ids = rows.Select(r => r.Id).ToList();
        var newestEvents = ids.Count == 0 ? [] : await db.RunEvents.Where(e => ids.Contains(e.RunId)).GroupBy(e => e.RunId)
            .Select(g => new { RunId = g.Key, Id = g.Max(e => e.Id) }).ToDictionaryAsync(g => g.RunId, g => g.Id, ct);
        foreach (var run in rows)
        {
            var status = RunStatus.Of(run);
            if (!_marks.TryGetValue(run.Id, out var marks))
            {
                // First sight: start from now (a page opening later back-fills from the database). A run created
                // since the last pass is announced, so lists show it.
                _marks[run.Id] = new Marks { Step = run.Step, Status = status, EventId = newestEvents.GetValueOrDefault(run.Id) };
                if (!firstPass && run.Id > lastRunId) await runs.PublishAsync(RunBatch.OfStatus(status), ct);
                if (!run.IsActive) _marks.Remove(run.Id);
                continue;
            }
            if (!run.IsActive) _marks.Remove(run.Id);   // published one last time below
            if (RunsHere(run.Worker)) { marks.Status = status; continue; }   // our own reporter publishes it

            var events = newestEvents.GetValueOrDefault(run.Id) <= marks.EventId ? []
                : await db.RunEvents.AsNoTracking().Where(e => e.RunId == run.Id && e.Id > marks.EventId).OrderBy(e => e.Id).ToListAsync(ct);
            if (events.Count > 0) marks.EventId = events[^1].Id;
            if (events.LastOrDefault(e => e.Kind == "Resumed") is { } resumed) marks.Step = Math.Min(marks.Step, resumed.Step);
            var statusChanged = status != marks.Status;
            // A run that waits in the queue, as it waited at the last pass, has no worker writing points.
            var waiting = run.State == RunState.Queued && !statusChanged;
            var metrics = waiting ? []
                : await db.MetricPoints.AsNoTracking().Where(p => p.RunId == run.Id && p.Step > marks.Step).OrderBy(p => p.Step).ToListAsync(ct);
            if (metrics.Count > 0) marks.Step = metrics[^1].Step;
            marks.Status = status;
            if (metrics.Count == 0 && events.Count == 0 && !statusChanged) continue;
            await runs.PublishAsync(new RunBatch(run.Id, metrics, [], events, status), ct);
        }
    }

    /// <summary>Generations queued or running on another process: published whenever their stored state changes.</summary>
    public async Task TailGenerationsAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var tracked = _generations.Keys.ToList();
        var rows = await db.Generations.AsNoTracking().Include(g => g.Images)
            .Where(g => g.State == GenerationState.Queued || g.State == GenerationState.Running || tracked.Contains(g.Id))
            .ToListAsync(ct);
        foreach (var id in _generations.Keys.Except(rows.Select(g => g.Id)).ToList()) _generations.Remove(id);
        foreach (var g in rows)
        {
            var signature = $"{g.State}|{g.Progress}|{g.Activity}|{g.Worker}|" + string.Join(",", g.Images.OrderBy(i => i.Id).Select(i => $"{i.State}:{i.PngPath}"));
            var seen = _generations.TryGetValue(g.Id, out var before);
            if (g.State is GenerationState.Queued or GenerationState.Running) _generations[g.Id] = signature;
            else _generations.Remove(g.Id);
            if (seen && before == signature) continue;
            if (RunsHere(g.Worker)) continue;   // the job in this process publishes it
            await generations.PublishAsync(g, ct);
        }
    }

    /// <summary>Evaluations queued or running on another process: published whenever their stored state changes.</summary>
    public async Task TailEvaluationsAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var tracked = _evaluations.Keys.ToList();
        var rows = await db.Evaluations.AsNoTracking()
            .Where(v => v.State == EvaluationState.Queued || v.State == EvaluationState.Running || tracked.Contains(v.Id))
            .ToListAsync(ct);
        foreach (var id in _evaluations.Keys.Except(rows.Select(v => v.Id)).ToList()) _evaluations.Remove(id);
        foreach (var v in rows)
        {
            var signature = $"{v.State}|{v.Progress}|{v.Activity}|{v.Worker}";
            var seen = _evaluations.TryGetValue(v.Id, out var before);
            if (v.IsActive) _evaluations[v.Id] = signature;
            else _evaluations.Remove(v.Id);
            if (seen && before == signature) continue;
            if (RunsHere(v.Worker)) continue;
            await evaluations.PublishAsync(v, ct);
        }
    }
}
