using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Charts;

/// <summary>What the x axis of a run's curves measures (the run page's and Compare's "x axis").</summary>
public enum CurveAxis { Step, WallTime, TrainingTime }

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

    public static string Label(CurveAxis axis) => axis switch
    {
        CurveAxis.WallTime => "wall time",
        CurveAxis.TrainingTime => "training time",
        _ => "step",
    };

    /// <summary>
    /// Each metric point's x on <paramref name="axis"/>: its step; its seconds since the run's first point (wall time:
    /// the time between a stop and a resume counts, as in TensorBoard's relative axis); or the same without that time
    /// (training time: W&amp;B's process time). A session's points come with its own clock (<see cref="MetricPoint.ElapsedSeconds"/>,
    /// from 0 at each start or resume): two points are of one session when that clock went forward by as much as the
    /// wall clock did (within a second and 1%), and then the wall time between them counts; the first point of a new
    /// session adds only its session's clock.
    /// </summary>
    public static double[] X(CurveAxis axis, IReadOnlyList<MetricPoint> points)
    {
        var x = new double[points.Count];
        if (points.Count == 0) return x;
        var t0 = points[0].Time;
        for (int i = 0; i < points.Count; i++)
            x[i] = axis switch
            {
                CurveAxis.WallTime => (points[i].Time - t0).TotalSeconds,
                CurveAxis.TrainingTime => i == 0 ? 0 : x[i - 1] + TrainingSecondsBetween(points[i - 1], points[i]),
                _ => points[i].Step,
            };
        return x;
    }

    static double TrainingSecondsBetween(MetricPoint before, MetricPoint after)
    {
        var wall = (after.Time - before.Time).TotalSeconds;
        var session = after.ElapsedSeconds - before.ElapsedSeconds;
        var sameSession = session >= 0 && Math.Abs(wall - session) <= 1 + 0.01 * session;
        return Math.Max(0, sameSession ? wall : after.ElapsedSeconds);
    }

    /// <summary>
    /// A curve by step redrawn against <paramref name="axis"/> (Step: as it is): each step takes the x of its own metric
    /// point (<see cref="X"/>), or in proportion between the two around it (a validation between thinned points); steps
    /// before the first point or after the newest take theirs. Empty when the run has no points yet.
    /// </summary>
    public static ChartPoint[] Along(CurveAxis axis, RunSeries series, IReadOnlyList<ChartPoint> byStep)
    {
        if (axis == CurveAxis.Step) return byStep.ToArray();
        var points = series.Points;
        if (points.Count == 0) return [];
        var x = X(axis, points);
        return byStep.Select(p =>
        {
            int lo = 0, hi = points.Count - 1;
            if (p.X <= points[lo].Step) return p with { X = x[lo] };
            if (p.X >= points[hi].Step) return p with { X = x[hi] };
            while (hi - lo > 1) // points[lo].Step <= X < points[hi].Step
            {
                var mid = (lo + hi) / 2;
                if (points[mid].Step <= p.X) lo = mid; else hi = mid;
            }
            var f = (p.X - points[lo].Step) / (points[hi].Step - points[lo].Step);
            return p with { X = x[lo] + f * (x[hi] - x[lo]) };
        }).ToArray();
    }

    /// <summary>At each validated step, the mean vision loss over the categories that have one (a gap where none has).</summary>
    public static ChartPoint[] HeldOut(IEnumerable<ValidationPoint> validation) => validation.GroupBy(v => v.Step)
        .Select(g => new ChartPoint(g.Key, g.Where(v => v.VisionLoss is not null).Select(v => v.VisionLoss!.Value).DefaultIfEmpty(double.NaN).Average()))
        .ToArray();
}
