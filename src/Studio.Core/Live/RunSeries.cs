using System.Globalization;
using System.Text.Json;
using Studio.Core.Data;
using Studio.Ml.Distillation;

namespace Studio.Core.Live;

/// <summary>
/// A run's metric points and log as one page holds them: fed by the database back-fill and by live batches, in any
/// order and with overlaps, it keeps one point per step (the latest report wins) and each log line once.
/// Subscribe to live batches first, then back-fill: anything stored before the back-fill is in it, anything after
/// arrives live, and the overlap is merged away.
/// A page holds at most <see cref="Capacity"/> metric points: past it the series keeps only steps that are multiples
/// of a doubling <see cref="Stride"/>, plus the newest point, so a run with a million updates stays light to hold
/// and quick to redraw. The stored series stays whole (the HTTP API and zoomed windows read it).
/// </summary>
public sealed class RunSeries(int capacity = RunSeries.DefaultCapacity)
{
    public const int DefaultCapacity = 20_000;
    readonly List<MetricPoint> _points = [];
    readonly List<RunEvent> _events = [];
    readonly Dictionary<(long Step, string Category), ValidationPoint> _validation = [];

    public IReadOnlyList<MetricPoint> Points => _points;
    public IReadOnlyList<RunEvent> Events => _events;
    /// <summary>
    /// How far the run's current activity has come when it is a counted one (filling the teacher-embedding cache
    /// before training): from the newest log line that sets the run's activity (as <see cref="RunReporter"/> does:
    /// Progress, StageStarted, Resumed), when it carries counts; null otherwise.
    /// </summary>
    public ActivityProgress? Activity { get; private set; }
    public IEnumerable<ValidationPoint> Validation => _validation.Values.OrderBy(v => v.Step).ThenBy(v => v.Category);
    /// <summary>The highest step held (0 when empty): the next back-fill asks for steps after it.</summary>
    public long LastStep => _points.Count > 0 ? _points[^1].Step : 0;
    public long LastEventId => _events.Count > 0 ? _events[^1].Id : 0;
    public int Capacity { get; } = capacity >= 2 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "at least 2");
    /// <summary>Only steps that are multiples of this are held (and the newest point); 1 until the capacity is reached.</summary>
    public long Stride { get; private set; } = 1;

    /// <summary>Incremented whenever the content changes, so charts can skip redrawing an unchanged series.</summary>
    public int Version { get; private set; }

    /// <summary>
    /// Starts from a back-fill read with <see cref="RunData.MetricsOverviewAsync"/>: its points are every
    /// <paramref name="stride"/>-th step, so later merges keep that spacing.
    /// </summary>
    public void MergeOverview(IReadOnlyList<MetricPoint> points, long stride)
    {
        if (stride < 1 || (stride & (stride - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(stride), stride, "a power of two");
        Stride = Math.Max(Stride, stride);
        Merge(points);
    }

    public void Merge(IEnumerable<MetricPoint> points)
    {
        foreach (var p in points)
        {
            if (_points.Count == 0 || p.Step > _points[^1].Step)
            {
                // The newest point is always shown; it stays only if it falls on the stride.
                if (_points.Count > 1 && !OnStride(_points[^1].Step)) _points.RemoveAt(_points.Count - 1);
                _points.Add(p);
                continue;
            }
            int i = FindStep(p.Step);
            if (i >= 0) _points[i] = p;
            else if (OnStride(p.Step)) _points.Insert(~i, p);
        }
        while (_points.Count > Capacity) Thin();
        Version++;
    }

    bool OnStride(long step) => step % Stride == 0;

    /// <summary>Doubles the stride and drops the points off it, keeping the first and the newest.</summary>
    void Thin()
    {
        Stride *= 2;
        var newest = _points[^1];
        var first = _points[0];
        _points.RemoveAll(p => !OnStride(p.Step) && p != newest && p != first);
    }

    public void MergeEvents(IEnumerable<RunEvent> events)
    {
        foreach (var e in events)
        {
            if (_events.Count == 0 || e.Id > _events[^1].Id) { _events.Add(e); continue; }
            int i = _events.BinarySearch(e, EventIdComparer.Instance);
            if (i < 0) _events.Insert(~i, e);
        }
        var current = _events.LastOrDefault(e => e.Kind is nameof(TrainingEventKind.Progress) or nameof(TrainingEventKind.StageStarted) or nameof(TrainingEventKind.Resumed));
        Activity = current is null ? null : ActivityProgress.Of(current);
        Version++;
    }

    public void MergeValidation(IEnumerable<ValidationPoint> points)
    {
        foreach (var v in points) _validation[(v.Step, v.Category)] = v;
        Version++;
    }

    public void Merge(RunBatch batch)
    {
        if (batch.Metrics.Count > 0) Merge(batch.Metrics);
        if (batch.Events.Count > 0) MergeEvents(batch.Events);
        if (batch.Validation.Count > 0) MergeValidation(batch.Validation);
    }

    int FindStep(long step)
    {
        int lo = 0, hi = _points.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var s = _points[mid].Step;
            if (s == step) return mid;
            if (s < step) lo = mid + 1; else hi = mid - 1;
        }
        return ~lo;
    }

    sealed class EventIdComparer : IComparer<RunEvent>
    {
        public static readonly EventIdComparer Instance = new();
        public int Compare(RunEvent? a, RunEvent? b) => a!.Id.CompareTo(b!.Id);
    }
}

/// <summary>A counted activity of a run: its log line ("filling the teacher-embedding cache: 1,234 / 8,000 prompts, ETA 3 min") and counts.</summary>
public sealed record ActivityProgress(string Message, long Done, long Total)
{
    public double Fraction => Total > 0 ? Math.Clamp((double)Done / Total, 0, 1) : 0;

    /// <summary>What a Progress line with <see cref="TrainingEventData.Done"/> and <see cref="TrainingEventData.Total"/> tells; null for any other line.</summary>
    public static ActivityProgress? Of(RunEvent e)
    {
        if (e.Kind != nameof(TrainingEventKind.Progress) || e.DataJson is null) return null;
        var data = JsonSerializer.Deserialize<Dictionary<string, string>>(e.DataJson);
        return data is not null
            && data.TryGetValue(TrainingEventData.Done, out var done) && long.TryParse(done, NumberStyles.Integer, CultureInfo.InvariantCulture, out var d)
            && data.TryGetValue(TrainingEventData.Total, out var total) && long.TryParse(total, NumberStyles.Integer, CultureInfo.InvariantCulture, out var t)
            ? new ActivityProgress(e.Message, d, t)
            : null;
    }
}
