namespace Studio.Core.Charts;

public readonly record struct ChartPoint(double X, double Y);

/// <summary>Smoothing and display downsampling of chart series. The stored data stays whole; only what is drawn is reduced.</summary>
public static class SeriesMath
{
    /// <summary>
    /// Exponential moving average with weight <paramref name="smoothing"/> in [0, 1) on the past (0: raw), debiased
    /// as TensorBoard does so the first points are not pulled towards zero. Non-finite values are passed over.
    /// </summary>
    public static ChartPoint[] Ema(IReadOnlyList<ChartPoint> points, double smoothing)
    {
        if (smoothing is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(smoothing), smoothing, "smoothing must be in [0, 1)");
        var result = new ChartPoint[points.Count];
        double last = 0, weight = 0;
        for (int i = 0; i < points.Count; i++)
        {
            var y = points[i].Y;
            if (double.IsFinite(y))
            {
                last = last * smoothing + (1 - smoothing) * y;
                weight = weight * smoothing + (1 - smoothing);
            }
            result[i] = new ChartPoint(points[i].X, weight > 0 ? last / weight : double.NaN);
        }
        return result;
    }

    /// <summary>
    /// Largest-Triangle-Three-Buckets (Steinarsson 2013): keeps the first and last points and, from each of
    /// <paramref name="threshold"/> - 2 buckets, the point that forms the largest triangle with its neighbours'
    /// choices, so peaks and the curve's shape survive. Points must be in x order; non-finite y are skipped.
    /// </summary>
    public static ChartPoint[] Lttb(IReadOnlyList<ChartPoint> points, int threshold)
    {
        var data = points.Where(p => double.IsFinite(p.Y) && double.IsFinite(p.X)).ToArray();
        if (threshold < 3 || data.Length <= threshold) return data;
        var sampled = new ChartPoint[threshold];
        sampled[0] = data[0];
        double every = (double)(data.Length - 2) / (threshold - 2);
        int a = 0;
        for (int i = 0; i < threshold - 2; i++)
        {
            // The average of the next bucket is the third corner of the triangle.
            int nextStart = (int)Math.Floor((i + 1) * every) + 1;
            int nextEnd = Math.Min((int)Math.Floor((i + 2) * every) + 1, data.Length);
            double avgX = 0, avgY = 0;
            for (int j = nextStart; j < nextEnd; j++) { avgX += data[j].X; avgY += data[j].Y; }
            int nextCount = Math.Max(1, nextEnd - nextStart);
            avgX /= nextCount; avgY /= nextCount;

            int start = (int)Math.Floor(i * every) + 1;
            int end = (int)Math.Floor((i + 1) * every) + 1;
            double maxArea = -1;
            int chosen = start;
            for (int j = start; j < end; j++)
            {
                double area = Math.Abs((data[a].X - avgX) * (data[j].Y - data[a].Y) - (data[a].X - data[j].X) * (avgY - data[a].Y));
                if (area > maxArea) { maxArea = area; chosen = j; }
            }
            sampled[i + 1] = data[chosen];
            a = chosen;
        }
        sampled[^1] = data[^1];
        return sampled;
    }

    /// <summary>The points with x in [<paramref name="from"/>, <paramref name="to"/>] (a zoom window), assuming x order.</summary>
    public static ChartPoint[] Window(IReadOnlyList<ChartPoint> points, double from, double to) =>
        points.Where(p => p.X >= from && p.X <= to).ToArray();
}
