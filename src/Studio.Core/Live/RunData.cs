using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;

namespace Studio.Core.Live;

/// <summary>Reads a run's stored series: the back-fill of a page that opens late or reconnects, and the HTTP API.</summary>
public class RunData(IDbContextFactory<StudioDbContext> dbFactory)
{
    /// <summary>Metric points with a step after <paramref name="afterStep"/>, in step order.</summary>
    public async Task<List<MetricPoint>> MetricsSinceAsync(int runId, long afterStep, int? limit = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.MetricPoints.AsNoTracking().Where(p => p.RunId == runId && p.Step > afterStep).OrderBy(p => p.Step);
        return limit is { } n ? await query.Take(n).ToListAsync(ct) : await query.ToListAsync(ct);
    }

    public async Task<List<ValidationPoint>> ValidationAsync(int runId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.ValidationPoints.AsNoTracking().Where(p => p.RunId == runId)
            .OrderBy(p => p.Step).ThenBy(p => p.Category).ToListAsync(ct);
    }

    /// <summary>Log lines with an id after <paramref name="afterId"/>; with <paramref name="tail"/>, only the last ones.</summary>
    public async Task<List<RunEvent>> EventsSinceAsync(int runId, long afterId = 0, int? tail = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.RunEvents.AsNoTracking().Where(e => e.RunId == runId && e.Id > afterId);
        if (tail is { } n) return (await query.OrderByDescending(e => e.Id).Take(n).ToListAsync(ct)).OrderBy(e => e.Id).ToList();
        return await query.OrderBy(e => e.Id).ToListAsync(ct);
    }

    public async Task<List<CheckpointEntry>> CheckpointsAsync(int runId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Checkpoints.AsNoTracking().Where(c => c.RunId == runId).OrderBy(c => c.Step).ToListAsync(ct);
    }

    public async Task<List<SampleEntry>> SamplesAsync(int runId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Samples.AsNoTracking().Where(s => s.RunId == runId)
            .OrderBy(s => s.Step).ThenBy(s => s.PromptIndex).ThenBy(s => s.Seed).ToListAsync(ct);
    }
}
