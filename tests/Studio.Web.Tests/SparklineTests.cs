using Studio.Core.Charts;
using Studio.Web.Components.Charts;

namespace Studio.Web.Tests;

/// <summary>The table-cell line: where its points go in a 96 x 24 box with 2 px margins.</summary>
public class SparklineTests
{
    static string Path(params (double X, double Y)[] points) => Sparkline.PathOf(points.Select(p => new ChartPoint(p.X, p.Y)).ToList(), 96, 24);

    [Fact]
    public void PositiveValuesAreOnALogScaleWithTheHighestAtTheTop() =>
        // 1, 10, 100 are equal steps in log10: the middle point at the middle height; steps 0, 50, 100 equally spaced.
        Assert.Equal("2,22 48,12 94,2", Path((0, 1), (50, 10), (100, 100)));

    [Fact]
    public void AZeroOrNegativeValueMakesTheScaleLinear() =>
        // -1, 0, 3: the range 4 over the 20 px between the margins, -1 at the bottom (22), 0 a quarter up (17).
        Assert.Equal("2,22 48,17 94,2", Path((1, -1), (2, 0), (3, 3)));

    [Fact]
    public void AFlatLineAndASinglePointAreDrawnAcrossTheMiddle()
    {
        Assert.Equal("2,12 94,12", Path((5, 0.3), (9, 0.3)));
        Assert.Equal("2,12 94,12", Path((7, 0.3)));
        Assert.Equal("", Path());
    }
}
