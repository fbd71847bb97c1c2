using System.Diagnostics;

namespace Studio.Ml.Benchmarks;

/// <summary>Wall-clock milliseconds per timed call, after the warm-up calls.</summary>
public sealed record BenchmarkTimes(double MedianMs, double MinMs, double MaxMs)
{
    public static BenchmarkTimes Of(IReadOnlyList<double> ms)
    {
        var sorted = ms.Order().ToArray();
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return new BenchmarkTimes(median, sorted[0], sorted[^1]);
    }

    /// <summary>
    /// Calls <paramref name="call"/> warmup + repeats times and times the last repeats calls one by one;
    /// <paramref name="before"/> runs before each call, outside the timing (setup that the workload does not time).
    /// </summary>
    public static BenchmarkTimes Measure(int warmup, int repeats, Action call, Action? before = null)
    {
        for (int i = 0; i < warmup; i++)
        {
            before?.Invoke();
            call();
        }
        var ms = new List<double>(repeats);
        for (int i = 0; i < repeats; i++)
        {
            before?.Invoke();
            var watch = Stopwatch.StartNew();
            call();
            ms.Add(watch.Elapsed.TotalMilliseconds);
        }
        return Of(ms);
    }
}
