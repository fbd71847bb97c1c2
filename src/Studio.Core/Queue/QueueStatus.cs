using Hangfire;
using Hangfire.Storage;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Jobs;

namespace Studio.Core.Queue;

public record WorkerInfo(string Name, string[] Queues, int WorkerCount, DateTime StartedAt, DateTime? Heartbeat, bool Online,
    WorkerDevice? Device = null, IReadOnlyList<string>? CurrentJobs = null);
public record QueueInfo(string Name, long Enqueued, long Fetched);
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

    public async Task<StudioCounts> CountsAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var byState = await db.Runs.GroupBy(r => r.State)
            .Select(g => new { g.Key, Count = g.Count() })
            .ToDictionaryAsync(x => x.Key, x => x.Count, ct);
        foreach (var state in Enum.GetValues<RunState>()) byState.TryAdd(state, 0);
        var monitoring = storage.GetMonitoringApi();
        var stats = monitoring.GetStatistics();
        return new StudioCounts(byState, Workers().Count(w => w.Online), stats.Enqueued, stats.Processing);
    }
}
