using Hangfire;
using Hangfire.Storage;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Jobs;

namespace Studio.Core.Queue;

public record WorkerInfo(string Name, string[] Queues, int WorkerCount, DateTime StartedAt, DateTime? Heartbeat, bool Online,
    WorkerDevice? Device = null, IReadOnlyList<string>? CurrentJobs = null)
{
    /// <summary>
    /// Hangfire's server id is the server's name (which says the role, host and process, and the lane of generations and
    /// evaluations) and a GUID: the name, and the GUID's first 8 digits to tell restarts apart.
    /// </summary>
    public static (string Name, string? Instance) ServerName(string id)
    {
        var colon = id.LastIndexOf(':');
        return colon > 0 && Guid.TryParse(id[(colon + 1)..], out _) ? (id[..colon], id[(colon + 1)..][..8]) : (id, null);
    }

    /// <summary>The worker process a server belongs to: its name, without the `:interactive` of a process's second server.</summary>
    public static string Process(string id)
    {
        var name = ServerName(id).Name;
        var lane = ":" + Generations.GenerationService.Queue;
        return name.EndsWith(lane, StringComparison.Ordinal) ? name[..^lane.Length] : name;
    }

    /// <summary>How many online servers take jobs from <paramref name="queue"/>: none, and its jobs wait until one starts.</summary>
    public static int Serving(IEnumerable<WorkerInfo> workers, string queue) => workers.Count(w => w.Online && w.Queues.Contains(queue));

    /// <summary>Why <paramref name="queue"/>'s jobs wait when no online worker takes from it, and what would serve it.</summary>
    public static string Unserved(string queue, IEnumerable<WorkerInfo> workers)
    {
        // The queues a run could be queued on instead (generations and evaluations have their own).
        var served = workers.Where(w => w.Online).SelectMany(w => w.Queues)
            .Where(q => q is not (Generations.GenerationService.Queue or Evaluations.EvaluationService.Queue))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        return $"No online worker takes jobs from the queue '{queue}', so they wait until one does: start a worker whose Studio:Queues " +
               $"includes {queue} (docs/MANY-MACHINES.md)" +
               (served.Count > 0 ? $", or cancel and queue again on a served queue ({string.Join(", ", served)})." : ".");
    }
}
public record QueueInfo(string Name, long Enqueued, long Fetched);

/// <summary>What kind of work an <see cref="ActiveWork"/> is.</summary>
public enum WorkKind { Run, Generation, Evaluation }

/// <summary>
/// One piece of work queued or running, as the Queue page lists it: a run, a generation or an evaluation, its queue,
/// since when it waits (queued) or runs (running), its worker and progress, and the page that shows it.
/// </summary>
public sealed record ActiveWork(WorkKind Kind, int Id, string Title, string Queue, string State, DateTime Since, string? Worker, double Progress, string Href)
{
    public bool Running => State != "queued";
}
public record StudioCounts(IReadOnlyDictionary<RunState, int> RunsByState, int WorkersOnline, long QueueLength, long Processing);

/// <summary>Reads the queue (Hangfire's monitoring API) and the studio database for the pages that show status.</summary>
public class QueueStatus(JobStorage storage, IDbContextFactory<StudioDbContext> dbFactory, StudioOptions? options = null)
{
    /// <summary>A server whose heartbeat is older than this is shown as offline (Studio:WorkerTimeoutSeconds, as the run reconciler uses).</summary>
    public TimeSpan HeartbeatTimeout { get; } =
        TimeSpan.FromSeconds(options is null ? 60 : Math.Max(options.WorkerTimeoutSeconds, 2 * options.HeartbeatSeconds));

    public IReadOnlyList<WorkerInfo> Workers()
    {
        var now = DateTime.UtcNow;
        var monitoring = storage.GetMonitoringApi();
        var processing = monitoring.ProcessingJobs(0, 500)
            .Where(j => j.Value?.ServerId is not null)
            .ToLookup(j => j.Value.ServerId, j => Describe(j.Key, j.Value.Job));
        return monitoring.Servers()
            .Select(s => new WorkerInfo(s.Name, s.Queues.ToArray(), s.WorkersCount, s.StartedAt, s.Heartbeat,
                s.Heartbeat is { } h && now - h < HeartbeatTimeout, WorkerDevicePublisher.Read(storage, s.Name), processing[s.Name].ToList()))
            .OrderBy(w => w.Name)
            .ToList();
    }

    /// <summary>"run 3", "generation 12", "export of checkpoint 7": what a processing job is, for people.</summary>
    static string Describe(string jobId, Hangfire.Common.Job? job)
    {
        var arg = job?.Args.Count > 0 ? job.Args[0] : null;
        return job?.Type.Name switch
        {
            nameof(RunJob) => $"run {arg} (job {jobId})",
            nameof(GenerationJob) => $"generation {arg} (job {jobId})",
            nameof(ExportJob) => $"export of checkpoint {arg} (job {jobId})",
            _ => $"{job?.Type.Name}.{job?.Method.Name} (job {jobId})",
        };
    }

    public IReadOnlyList<QueueInfo> Queues() =>
        storage.GetMonitoringApi().Queues()
            .Select(q => new QueueInfo(q.Name, q.Length, q.Fetched ?? 0))
            .OrderBy(q => q.Name)
            .ToList();

    /// <summary>Every run, generation and evaluation queued or running: running first, then the longest waiting first.</summary>
    public async Task<IReadOnlyList<ActiveWork>> ActiveWorkAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var runs = await db.Runs.AsNoTracking()
            .Where(r => r.State == RunState.Queued || r.State == RunState.Running || r.State == RunState.Stopping).ToListAsync(ct);
        var generations = await db.Generations.AsNoTracking()
            .Where(g => g.State == GenerationState.Queued || g.State == GenerationState.Running).ToListAsync(ct);
        var evaluations = await db.Evaluations.AsNoTracking()
            .Where(v => v.State == EvaluationState.Queued || v.State == EvaluationState.Running).ToListAsync(ct);
        IEnumerable<ActiveWork> work =
        [
            .. runs.Select(r => new ActiveWork(WorkKind.Run, r.Id, r.Name, r.Queue, r.State.ToString().ToLowerInvariant(),
                r.State == RunState.Queued ? r.CreatedAt : r.StartedAt ?? r.CreatedAt, r.Worker, r.ShownProgress, $"/runs/{r.Id}")),
            .. generations.Select(g => new ActiveWork(WorkKind.Generation, g.Id, g.Prompt, Generations.GenerationService.Queue,
                g.State.ToString().ToLowerInvariant(), g.CreatedAt, g.Worker, g.Progress, "/generate")),
            .. evaluations.Select(v => new ActiveWork(WorkKind.Evaluation, v.Id, $"{v.Encoder} ({v.SettingsKey})", Evaluations.EvaluationService.Queue,
                v.State.ToString().ToLowerInvariant(), v.CreatedAt, v.Worker, v.Progress, v.RunId is { } run ? $"/runs/{run}" : "/compare?view=scaling")),
        ];
        return work.OrderByDescending(w => w.Running).ThenBy(w => w.Since).ToList();
    }

    public async Task<StudioCounts> CountsAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var byState = await db.Runs.GroupBy(r => r.State)
            .Select(g => new { g.Key, Count = g.Count() })
            .ToDictionaryAsync(x => x.Key, x => x.Count, ct);
        foreach (var state in Enum.GetValues<RunState>()) byState.TryAdd(state, 0);
        var monitoring = storage.GetMonitoringApi();
        var stats = monitoring.GetStatistics();
        // Worker processes, not Hangfire servers: a process serving generations runs a second server for them.
        var online = Workers().Where(w => w.Online).Select(w => WorkerInfo.Process(w.Name)).Distinct().Count();
        return new StudioCounts(byState, online, stats.Enqueued, stats.Processing);
    }
}
