using Studio.Core.Charts;
using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Tests;

/// <summary>The curves Compare overlays per run.</summary>
public class RunCurvesTests
{
    [Fact]
    public void TheValidationCurveIsTheMeanOverCategoriesAtEachStepWithAGapWhereNoneHasALoss()
    {
        var series = new RunSeries();
        series.MergeValidation([
            new ValidationPoint { Step = 20, Category = "text", VisionLoss = 0.25 },
            new ValidationPoint { Step = 20, Category = "semantics/colour", VisionLoss = 0.75 },
            new ValidationPoint { Step = 20, Category = "image-quality", VisionLoss = null },
            new ValidationPoint { Step = 10, Category = "text", VisionLoss = 1.5 },
            new ValidationPoint { Step = 30, Category = "text", VisionLoss = null },
        ]);

        var curve = RunCurves.Metrics[RunCurves.Validation](series);

        Assert.Equal([new ChartPoint(10, 1.5), new ChartPoint(20, 0.5)], curve[..2]);
        Assert.Equal(30, curve[2].X);
        Assert.True(double.IsNaN(curve[2].Y));
    }

    [Fact]
    public void TrainingCurvesFollowTheStoredPointsWithAGapForAMissingValue()
    {
        var series = new RunSeries();
        series.Merge([new MetricPoint { Step = 1, Loss = 0.5, GradientNorm = 2 }, new MetricPoint { Step = 2, Loss = null, GradientNorm = 1 }]);
        var loss = RunCurves.Metrics[RunCurves.Loss](series);
        Assert.Equal(new ChartPoint(1, 0.5), loss[0]);
        Assert.True(double.IsNaN(loss[1].Y));
        Assert.Equal([new ChartPoint(1, 2), new ChartPoint(2, 1)], RunCurves.Metrics["Gradient norm"](series));
    }

    [Fact]
    public void AgainstWallTimeEachStepTakesTheTimeOfItsPointOrInProportionBetweenTheTwoAroundIt()
    {
        var series = new RunSeries();
        Assert.Empty(RunCurves.Along(CurveAxis.WallTime, series, [new ChartPoint(1, 0.5)]));
        var t0 = new DateTime(2026, 12, 5, 10, 0, 0, DateTimeKind.Utc);
        // Steps 10, 20 and 40 at 0, 10 and 70 s (a pause before step 40 counts, as in TensorBoard's relative axis).
        series.Merge([new MetricPoint { Step = 10, Time = t0 }, new MetricPoint { Step = 20, Time = t0.AddSeconds(10) }, new MetricPoint { Step = 40, Time = t0.AddSeconds(70) }]);

        var curve = RunCurves.Along(CurveAxis.WallTime, series, [new(5, 1), new(10, 2), new(20, 3), new(25, 4), new(30, 5), new(40, 6), new(45, 7)]);

        Assert.Equal([new ChartPoint(0, 1), new(0, 2), new(10, 3), new(25, 4), new(40, 5), new(70, 6), new(70, 7)], curve);
    }

    [Fact]
    public void TrainingTimeLeavesOutTheTimeBetweenAStopAndItsResume()
    {
        var t0 = new DateTime(2026, 12, 5, 10, 0, 0, DateTimeKind.Utc);
        // A first session: steps 10, 20, 30 at 0, 10, 20 s of its clock. Stopped, resumed an hour later from step 30: its
        // clock starts again, steps 40 and 50 at 4 and 14 s of it. A third session 5 minutes later, whose first point
        // comes at 30 s of its clock (more than the 16 s the previous point's clock showed: the clock still went back).
        var points = new[]
        {
            new MetricPoint { Step = 10, Time = t0, ElapsedSeconds = 2 },
            new MetricPoint { Step = 20, Time = t0.AddSeconds(10), ElapsedSeconds = 12 },
            new MetricPoint { Step = 30, Time = t0.AddSeconds(20), ElapsedSeconds = 22 },
            new MetricPoint { Step = 40, Time = t0.AddSeconds(3624), ElapsedSeconds = 4 },
            new MetricPoint { Step = 50, Time = t0.AddSeconds(3634.2), ElapsedSeconds = 14 },
            new MetricPoint { Step = 60, Time = t0.AddSeconds(3934), ElapsedSeconds = 30 },
        };
        // Within a session the wall time between points counts (10.2 s: within a second of its clock's 10 s).
        Assert.Equal([0, 10, 20, 24, 34.2, 64.2], RunCurves.X(CurveAxis.TrainingTime, points).Select(x => Math.Round(x, 6)));
        Assert.Equal([0, 10, 20, 3624, 3634.2, 3934], RunCurves.X(CurveAxis.WallTime, points).Select(x => Math.Round(x, 6)));
        Assert.Equal([10, 20, 30, 40, 50, 60], RunCurves.X(CurveAxis.Step, points));

        // A validation at step 35 lies halfway between the stop and the resumed session's first point.
        var series = new RunSeries();
        series.Merge(points);
        Assert.Equal([new ChartPoint(22, 1), new(64.2, 2)],
            RunCurves.Along(CurveAxis.TrainingTime, series, [new(35, 1), new(60, 2)]).Select(p => p with { X = Math.Round(p.X, 6) }));
    }
}
