using System.Globalization;
using Studio.Core.Charts;

namespace Studio.Web.Components.Charts;

/// <summary>One line of a chart: its points in x order (the whole series; the chart reduces what it draws).</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<ChartPoint> Points, string? Color = null);

/// <summary>Axis ticks at round values.</summary>
public static class ChartTicks
{
    public static readonly string[] Palette = ["#3f51b5", "#e91e63", "#009688", "#ff9800", "#9c27b0", "#795548", "#607d8b", "#4caf50", "#f44336", "#00bcd4"];

    /// <summary>About <paramref name="count"/> ticks at multiples of 1, 2 or 5 times a power of ten within [min, max].</summary>
    public static IReadOnlyList<double> Linear(double min, double max, int count = 5)
    {
        if (!(max > min)) return [min];
        var rough = (max - min) / count;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        var step = new[] { 1, 2, 5, 10 }.Select(m => m * magnitude).First(s => s >= rough);
        var ticks = new List<double>();
        for (var t = Math.Ceiling(min / step) * step; t <= max + step * 1e-9; t += step) ticks.Add(Math.Abs(t) < step * 1e-9 ? 0 : t);
        return ticks;
    }

    public static string Format(double value)
    {
        if (value == 0) return "0";
        var a = Math.Abs(value);
        return a >= 1e5 || a < 1e-3 ? value.ToString("0.##e0", CultureInfo.InvariantCulture) : value.ToString("0.####", CultureInfo.InvariantCulture);
    }
}
