using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Studio.Core.Data;
using Studio.Core.Hosting;

namespace Studio.Core.Live;

/// <summary>
/// The web host's view of runs that other processes execute (Studio.Worker on other machines): every half second it
/// reads what their reporters stored since the last look (metric points past the last step published, log lines past
/// the last id, a changed status) and publishes it to this host's browsers, exactly as the in-process worker's
/// reporter does for its own runs. Workers therefore need no connection to any web host; every web host tails the
/// shared database. After a "Resumed" line the step mark goes back to the resumed step, so re-reported steps are
/// published again (pages merge points by step).
/// </summary>
public sealed class RunTailer(IDbContextFactory<StudioDbContext> dbFactory, IRunBroadcaster broadcaster, WorkerIdentity? local = null) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    sealed class Marks { public long Step; public long EventId; public RunStatus? Status; }
    readonly Dictionary<int, Marks> _marks = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await TailAsync(stoppingToken); }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception e) { Console.Error.WriteLine($"run tailing failed (retried): {e.Message}"); }
            try { await Task.Delay(Interval, stoppingToken); } catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>One pass over the runs that are running or stopping on another process.</summary>
    public async Task TailAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var tracked = _marks.Keys.ToList();
        var runs = await db.Runs.AsNoTracking()
            .Where(r => r.State == RunState.Running || r.State == RunState.Stopping || tracked.Contains(r.Id))
            .ToListAsync(ct);
        foreach (var id in _marks.Keys.Except(runs.Select(r => r.Id)).ToList()) _marks.Remove(id);
        foreach (var run in runs)
        {
            var status = RunStatus.Of(run);
            if (!_marks.TryGetValue(run.Id, out var marks))
            {
                // First sight: start from now (a page opening later back-fills from the database).
                _marks[run.Id] = new Marks
                {
                    Step = run.Step, Status = status,
                    EventId = await db.RunEvents.Where(e => e.RunId == run.Id).MaxAsync(e => (long?)e.Id, ct) ?? 0,
                };
                continue;
            }
            if (!run.IsActive) _marks.Remove(run.Id);   // published one last time below
            if (local is not null && run.Worker == local.Name) { marks.Status = status; continue; }   // our own reporter publishes it

            var events = await db.RunEvents.AsNoTracking().Where(e => e.RunId == run.Id && e.Id > marks.EventId).OrderBy(e => e.Id).ToListAsync(ct);
            if (events.Count > 0) marks.EventId = events[^1].Id;
            if (events.LastOrDefault(e => e.Kind == "Resumed") is { } resumed) marks.Step = Math.Min(marks.Step, resumed.Step);
            var metrics = await db.MetricPoints.AsNoTracking().Where(p => p.RunId == run.Id && p.Step > marks.Step).OrderBy(p => p.Step).ToListAsync(ct);
            if (metrics.Count > 0) marks.Step = metrics[^1].Step;
            var statusChanged = status != marks.Status;
            marks.Status = status;
            if (metrics.Count == 0 && events.Count == 0 && !statusChanged) continue;
            await broadcaster.PublishAsync(new RunBatch(run.Id, metrics, [], events, status), ct);
        }
    }
}
