namespace Studio.Core.Charts;

/// <summary>
/// A run's training loss at a glance (the Runs table's sparkline): its steps cut into about <see cref="Buckets"/> equal
/// spans of <see cref="Width"/> updates, each drawn as the mean loss of its points (steps with a non-finite loss left
/// out). Read once from the database (<see cref="Live.RunData.LossOutlinesAsync"/>, the averaging done there), then
/// extended with the points a running run pushes (<see cref="Add"/>).
/// </summary>
public sealed class LossOutline(long width)
{
    public const int Buckets = 40;

    /// <summary>Steps per span: a run of <paramref name="totalSteps"/> updates in <see cref="Buckets"/> spans (at least 1).</summary>
    public static long WidthFor(long totalSteps) => Math.Max(1, (totalSteps + Buckets - 1) / Buckets);

    public long Width { get; } = Math.Max(1, width);

    /// <summary>The newest step counted: a pushed point at or before it is already in (read with the outline, or pushed twice).</summary>
    public long LastStep { get; private set; }

    readonly SortedDictionary<long, (double Sum, long Count, long Last)> _spans = [];

    /// <summary>The span of a step: steps 1..Width are span 0.</summary>
    public long SpanOf(long step) => (step - 1) / Width;

    /// <summary>A span's sum and count as the database aggregated them.</summary>
    public void AddSpan(long span, double sum, long count, long lastStep)
    {
        _spans[span] = (sum, count, lastStep);
        LastStep = Math.Max(LastStep, lastStep);
    }

    /// <summary>One pushed point of a running run; a non-finite loss, or a step already counted, changes nothing.</summary>
    public void Add(long step, double? loss)
    {
        if (step <= LastStep) return;
        LastStep = step;
        if (loss is not { } value || !double.IsFinite(value)) return;
        var span = SpanOf(step);
        var (sum, count, _) = _spans.GetValueOrDefault(span);
        _spans[span] = (sum + value, count + 1, step);
    }

    /// <summary>
    /// A page's outlines extended with a run's pushed points: the run's outline, begun (its width from
    /// <paramref name="totalSteps"/>, else the newest pushed step) when it has none yet.
    /// </summary>
    public static void Extend(IDictionary<int, LossOutline> outlines, int runId, long totalSteps, IReadOnlyList<Data.MetricPoint> points)
    {
        if (points.Count == 0) return;
        if (!outlines.TryGetValue(runId, out var outline))
            outlines[runId] = outline = new LossOutline(WidthFor(totalSteps > 0 ? totalSteps : points.Max(p => p.Step)));
        foreach (var point in points.OrderBy(p => p.Step)) outline.Add(point.Step, point.Loss);
    }

    /// <summary>One point per span with points: x the span's last step, y its mean loss; in step order.</summary>
    public IReadOnlyList<ChartPoint> Points => _spans.Values.Select(s => new ChartPoint(s.Last, s.Sum / s.Count)).ToList();
}
