using Microsoft.EntityFrameworkCore;
using Studio.Core.Charts;
using Studio.Core.Data;
using Studio.Ml.Distillation;

namespace Studio.Core.Live;

/// <summary>Reads runs and their stored series: the pages (and their back-fill when they open late or reconnect) and the HTTP API.</summary>
public class RunData(IDbContextFactory<StudioDbContext> dbFactory)
{
    /// <summary>Every run, newest first; with <paramref name="group"/>, only that group's runs.</summary>
    public async Task<List<Run>> RunsAsync(string? group = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var runs = db.Runs.AsNoTracking();
        if (group is not null) runs = runs.Where(r => r.Group == group);
        return await runs.OrderByDescending(r => r.Id).ToListAsync(ct);
    }

    /// <summary>
    /// Each run's lowest held-out vision loss (the mean over categories of a validation) with its step, for the runs
    /// that have one (all runs' without <paramref name="runIds"/>); the averaging is done by the database.
    /// </summary>
    public async Task<Dictionary<int, ChartPoint>> BestHeldOutAsync(IReadOnlyCollection<int>? runIds = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var points = db.ValidationPoints.AsNoTracking();
        if (runIds is not null) points = points.Where(v => runIds.Contains(v.RunId));
        var means = await HeldOutMeans(points).ToListAsync(ct);
        return means.Where(m => double.IsFinite(m.Loss)).GroupBy(m => m.RunId)
            .ToDictionary(g => g.Key, g => g.OrderBy(m => m.Loss).ThenBy(m => m.Step).Select(m => new ChartPoint(m.Step, m.Loss)).First());
    }

    /// <summary>
    /// The training loss of <paramref name="runs"/> in spans of equal steps (<see cref="LossOutline"/>), for those with
    /// a finite loss. The database sums and counts each span (a span's width from the run's total updates) in one query
    /// for the runs not read before; a stopped run's spans are kept (by run, newest step and finish time, so a resumed
    /// run is read again), so a page reads each finished run once per process: a million-point run takes about a second.
    /// One call reads at a time: a second page opened meanwhile waits and takes what the first read, rather than
    /// reading the same runs beside it. Every call returns new outlines, which the caller may extend.
    /// </summary>
    public async Task<Dictionary<int, LossOutline>> LossOutlinesAsync(IReadOnlyCollection<Run> runs, CancellationToken ct = default)
    {
        var outlines = new Dictionary<int, LossOutline>();
        var unread = Unkept(runs, outlines);
        if (unread.Count == 0) return outlines;
        await _reading.WaitAsync(ct);
        try
        {
            await ReadAsync(Unkept(unread, outlines), outlines, ct);
        }
        finally { _reading.Release(); }
        return outlines;
    }

    readonly SemaphoreSlim _reading = new(1, 1);

    /// <summary>The runs whose outline is not kept; the kept ones' are built into <paramref name="outlines"/>.</summary>
    List<Run> Unkept(IEnumerable<Run> runs, Dictionary<int, LossOutline> outlines)
    {
        var unread = new List<Run>();
        foreach (var run in runs)
            if (!run.IsActive && _stoppedOutlines.TryGetValue(run.Id, out var kept) && kept.Key == (run.Step, run.FinishedAt))
            {
                if (kept.Spans.Count > 0) outlines[run.Id] = kept.Build();
            }
            else unread.Add(run);
        return unread;
    }

    async Task ReadAsync(List<Run> unread, Dictionary<int, LossOutline> outlines, CancellationToken ct)
    {
        foreach (var chunk in unread.Chunk(500))
        {
            var ids = chunk.Select(r => r.Id).ToList();
            var spans = (await ReadSpansAsync(ids, ct)).ToLookup(s => s.RunId);
            foreach (var run in chunk)
            {
                var read = new OutlineSpans(spans[run.Id].ToList(), (run.Step, run.FinishedAt));
                if (!run.IsActive) _stoppedOutlines[run.Id] = read;
                if (read.Spans.Count > 0) outlines[run.Id] = read.Build();
            }
        }
    }

    sealed record OutlineSpan(int RunId, long Width, long Span, double Sum, long Count, long Last);

    sealed record OutlineSpans(List<OutlineSpan> Spans, (long Step, DateTime? FinishedAt) Key)
    {
        public LossOutline Build()
        {
            var outline = new LossOutline(Spans[0].Width);
            foreach (var s in Spans) outline.AddSpan(s.Span, s.Sum, s.Count, s.Last);
            return outline;
        }
    }

    readonly System.Collections.Concurrent.ConcurrentDictionary<int, OutlineSpans> _stoppedOutlines = new();

    async Task<List<OutlineSpan>> ReadSpansAsync(List<int> runIds, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        const int buckets = LossOutline.Buckets;
        // LossOutline.WidthFor in SQL: the run's total updates (its newest step when unknown) over the buckets, at least 1.
        return await db.MetricPoints.AsNoTracking().Where(p => runIds.Contains(p.RunId) && p.Loss != null)
            .Join(db.Runs, p => p.RunId, r => r.Id, (p, r) => new
            {
                p.RunId, p.Step, Loss = p.Loss!.Value,
                Width = ((r.TotalSteps > 0 ? r.TotalSteps : r.Step) + buckets - 1) / buckets,
            })
            .GroupBy(p => new { p.RunId, p.Width, Span = (p.Step - 1) / (p.Width > 0 ? p.Width : 1) })
            .Select(g => new OutlineSpan(g.Key.RunId, g.Key.Width, g.Key.Span, g.Sum(p => p.Loss), g.LongCount(), g.Max(p => p.Step)))
            .ToListAsync(ct);
    }

    /// <summary>Each Bayesian sweep's group and the number of runs it makes in all.</summary>
    public async Task<Dictionary<string, int>> SweepPlanSizesAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.SweepPlans.AsNoTracking().ToDictionaryAsync(p => p.Group, p => p.TotalRuns, ct);
    }

    /// <summary>Why each run the trainer stopped before its last update stopped: its newest StoppedEarly log line, by run.</summary>
    public async Task<Dictionary<int, string>> StopReasonsAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var kind = nameof(TrainingEventKind.StoppedEarly);
        var lines = await db.RunEvents.AsNoTracking().Where(e => e.Kind == kind).Select(e => new { e.RunId, e.Id, e.Message }).ToListAsync(ct);
        return lines.GroupBy(e => e.RunId).ToDictionary(g => g.Key, g => g.MaxBy(e => e.Id)!.Message);
    }

    /// <summary>One validation of a run: its step and its held-out vision loss (the mean over its categories).</summary>
    public sealed record HeldOutMean(int RunId, long Step, double Loss);

    /// <summary>The held-out loss of each (run, step) among <paramref name="points"/>, averaged by the database (points without a loss left out).</summary>
    public static IQueryable<HeldOutMean> HeldOutMeans(IQueryable<ValidationPoint> points) =>
        points.Where(v => v.VisionLoss != null).GroupBy(v => new { v.RunId, v.Step })
            .Select(g => new HeldOutMean(g.Key.RunId, g.Key.Step, g.Average(v => v.VisionLoss!.Value)));

    public async Task<Run?> RunAsync(int runId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, ct);
    }

    /// <summary>Metric points with a step after <paramref name="afterStep"/>, in step order.</summary>
    public async Task<List<MetricPoint>> MetricsSinceAsync(int runId, long afterStep, int? limit = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.MetricPoints.AsNoTracking().Where(p => p.RunId == runId && p.Step > afterStep).OrderBy(p => p.Step);
        return limit is { } n ? await query.Take(n).ToListAsync(ct) : await query.ToListAsync(ct);
    }

    /// <summary>
    /// A chart's first view of a long run: at most about <paramref name="maxPoints"/> points, every stride-th step
    /// (a power of two, so <see cref="RunSeries"/> can keep thinning on the same grid) plus the first and the newest.
    /// </summary>
    public async Task<(List<MetricPoint> Points, long Stride)> MetricsOverviewAsync(int runId, int maxPoints = RunSeries.DefaultCapacity,
        CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var run = db.MetricPoints.AsNoTracking().Where(p => p.RunId == runId);
        var count = await run.CountAsync(ct);
        long stride = 1;
        while (count / stride > maxPoints) stride *= 2;
        if (stride == 1) return (await run.OrderBy(p => p.Step).ToListAsync(ct), 1);
        var points = await run.Where(p => p.Step % stride == 0).OrderBy(p => p.Step).ToListAsync(ct);
        var first = await run.OrderBy(p => p.Step).FirstAsync(ct);
        var newest = await run.OrderByDescending(p => p.Step).FirstAsync(ct);
        if (points.Count == 0 || points[0].Step != first.Step) points.Insert(0, first);
        if (points[^1].Step != newest.Step) points.Add(newest);
        return (points, stride);
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
