using Studio.Core.Charts;

namespace Studio.Core.Tests;

public class SeriesMathTests
{
    [Fact]
    public void LttbKeepsTheEndsAndTheSpikesOfAMillionPoints()
    {
        var rng = new Random(1);
        var points = new ChartPoint[1_000_000];
        for (int i = 0; i < points.Length; i++) points[i] = new ChartPoint(i, 1.0 / (1 + i / 1000.0) + rng.NextDouble() * 0.01);
        points[123_456] = new ChartPoint(123_456, 50);   // a loss spike must stay visible
        var drawn = SeriesMath.Lttb(points, 2000);
        Assert.Equal(2000, drawn.Length);
        Assert.Equal(points[0], drawn[0]);
        Assert.Equal(points[^1], drawn[^1]);
        Assert.Contains(points[123_456], drawn);
        // Every drawn point is a real point, in x order.
        Assert.All(drawn, p => Assert.Equal(points[(int)p.X], p));
        Assert.True(drawn.Zip(drawn.Skip(1)).All(t => t.First.X < t.Second.X));
    }

    [Fact]
    public void LttbLeavesShortSeriesAloneAndSkipsGaps()
    {
        ChartPoint[] points = [new(0, 1), new(1, double.NaN), new(2, 3)];
        Assert.Equal([new ChartPoint(0, 1), new ChartPoint(2, 3)], SeriesMath.Lttb(points, 2000));
    }

    [Fact]
    public void EmaIsDebiasedAndZeroSmoothingIsTheRawSeries()
    {
        ChartPoint[] points = [new(0, 10), new(1, 0), new(2, 10)];
        Assert.Equal(points, SeriesMath.Ema(points, 0));
        var smooth = SeriesMath.Ema(points, 0.5);
        // Worked by hand: s1 = 5, w1 = 0.5 -> 10; s2 = 2.5, w2 = 0.75 -> 3.33; s3 = 6.25, w3 = 0.875 -> 7.14.
        Assert.Equal(10, smooth[0].Y, 12);
        Assert.Equal(2.5 / 0.75, smooth[1].Y, 12);
        Assert.Equal(6.25 / 0.875, smooth[2].Y, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => SeriesMath.Ema(points, 1));
    }
}
