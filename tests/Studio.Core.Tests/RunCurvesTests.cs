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
}
