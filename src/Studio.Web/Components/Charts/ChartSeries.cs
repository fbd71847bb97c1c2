using System.Globalization;
using Studio.Core.Charts;

namespace Studio.Web.Components.Charts;

/// <summary>One line of a chart: its points in x order (the whole series; the chart reduces what it draws).</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<ChartPoint> Points, string? Color = null);

/// <summary>Axis ticks at round values.</summary>
public static class ChartTicks
{
    /// <summary>The series colours on the light theme's white.</summary>
    public static readonly string[] Palette = ["#3f51b5", "#e91e63", "#009688", "#ff9800", "#9c27b0", "#795548", "#607d8b", "#4caf50", "#f44336", "#00bcd4"];

    /// <summary>
    /// The same hues for the dark theme: the dark ones lightened (Material's 300 shades) so that every line stands at
    /// least 3:1 against the dark surface (indigo #3f51b5 was 1.7:1); still at least 2:1 on the white of a saved figure.
    /// </summary>
    public static readonly string[] DarkPalette = ["#7986cb", "#f06292", "#4db6ac", "#ff9800", "#ba68c8", "#a1887f", "#90a4ae", "#4caf50", "#e57373", "#00bcd4"];

    /// <summary>The <paramref name="index"/>-th series colour of the theme shown.</summary>
    public static string Colour(int index, bool dark) => (dark ? DarkPalette : Palette)[index % Palette.Length];

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
