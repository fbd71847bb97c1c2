using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Charts;

/// <summary>The curves Compare overlays, one per run, each from the run's series: a training metric by step, or the held-out validation.</summary>
public static class RunCurves
{
    public const string Loss = "Loss";
    public const string Validation = "Held-out vision loss (mean over categories)";

    public static readonly IReadOnlyDictionary<string, Func<RunSeries, ChartPoint[]>> Metrics = new Dictionary<string, Func<RunSeries, ChartPoint[]>>
    {
        [Loss] = s => Steps(s, p => p.Loss),
        [Validation] = s => HeldOut(s.Validation),
        ["Gradient norm"] = s => Steps(s, p => p.GradientNorm),
        ["Learning rate"] = s => Steps(s, p => p.LearningRate),
        ["Updates/s"] = s => Steps(s, p => p.UpdatesPerSecond),
    };

    static ChartPoint[] Steps(RunSeries series, Func<MetricPoint, double?> y) =>
        series.Points.Select(p => new ChartPoint(p.Step, y(p) ?? double.NaN)).ToArray();

    /// <summary>
    /// A curve by step redrawn against wall time, as the run page's "x: wall time" draws it: each step becomes the seconds
    /// since the run's first metric point, at the time of its own metric point, or in proportion between the two around
    /// it (a validation between thinned points); steps before the first point or after the newest take their time.
    /// Time between a stop and a resume counts, as in TensorBoard's relative axis. Empty when the run has no points yet.
    /// </summary>
    public static ChartPoint[] AgainstWallTime(RunSeries series, IReadOnlyList<ChartPoint> byStep)
    {
        var points = series.Points;
        if (points.Count == 0) return [];
        var t0 = points[0].Time;
        double Seconds(int i) => (points[i].Time - t0).TotalSeconds;
        return byStep.Select(p =>
        {
            int lo = 0, hi = points.Count - 1;
            if (p.X <= points[lo].Step) return p with { X = 0 };
            if (p.X >= points[hi].Step) return p with { X = Seconds(hi) };
            while (hi - lo > 1) // points[lo].Step <= X < points[hi].Step
            {
                var mid = (lo + hi) / 2;
                if (points[mid].Step <= p.X) lo = mid; else hi = mid;
            }
            var f = (p.X - points[lo].Step) / (points[hi].Step - points[lo].Step);
            return p with { X = Seconds(lo) + f * (Seconds(hi) - Seconds(lo)) };
        }).ToArray();
    }

    /// <summary>At each validated step, the mean vision loss over the categories that have one (a gap where none has).</summary>
    public static ChartPoint[] HeldOut(IEnumerable<ValidationPoint> validation) => validation.GroupBy(v => v.Step)
        .Select(g => new ChartPoint(g.Key, g.Where(v => v.VisionLoss is not null).Select(v => v.VisionLoss!.Value).DefaultIfEmpty(double.NaN).Average()))
        .ToArray();
}
