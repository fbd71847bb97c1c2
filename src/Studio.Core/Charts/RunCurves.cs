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

    /// <summary>At each validated step, the mean vision loss over the categories that have one (a gap where none has).</summary>
    public static ChartPoint[] HeldOut(IEnumerable<ValidationPoint> validation) => validation.GroupBy(v => v.Step)
        .Select(g => new ChartPoint(g.Key, g.Where(v => v.VisionLoss is not null).Select(v => v.VisionLoss!.Value).DefaultIfEmpty(double.NaN).Average()))
        .ToArray();
}
