using System.Text.Json;
using System.Text.Json.Serialization;
using Studio.Core.Data;

namespace Studio.Core.Charts;

/// <summary>A grid of mean values: rows are labels (sigma buckets), columns are step ranges.</summary>
public sealed record HeatmapGrid(IReadOnlyList<string> Rows, IReadOnlyList<(long From, long To)> Columns, double?[,] Values);

/// <summary>
/// The per-label losses of the metric points (by sigma bucket, by category), stored as JSON objects. For display only:
/// at most <c>maxParsed</c> evenly spaced points are parsed, so a run with a million points stays quick to draw.
/// </summary>
public static class Breakdown
{
    static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static IEnumerable<(long Step, double X, Dictionary<string, double> Values)> Parse(
        IReadOnlyList<MetricPoint> points, Func<MetricPoint, string?> json, Func<MetricPoint, double> x, int maxParsed = 20_000)
    {
        var stride = Math.Max(1, points.Count / Math.Max(1, maxParsed));
        for (int i = 0; i < points.Count; i += stride)
            if (Values(json(points[i])) is { Count: > 0 } values) yield return (points[i].Step, x(points[i]), values);
    }

    /// <summary>One point's stored label-to-loss object; null when there is none or it cannot be read.</summary>
    public static Dictionary<string, double>? Values(string? json)
    {
        if (string.IsNullOrEmpty(json)) return null;
        try { return JsonSerializer.Deserialize<Dictionary<string, double>>(json, Json); }
        catch (JsonException) { return null; }
    }

    /// <summary>One series per label, in label order.</summary>
    public static IReadOnlyList<(string Label, ChartPoint[] Points)> Series(
        IReadOnlyList<MetricPoint> points, Func<MetricPoint, string?> json, Func<MetricPoint, double> x, int maxParsed = 20_000)
    {
        var byLabel = new SortedDictionary<string, List<ChartPoint>>(StringComparer.Ordinal);
        foreach (var (_, px, values) in Parse(points, json, x, maxParsed))
            foreach (var (label, value) in values)
            {
                if (!byLabel.TryGetValue(label, out var list)) byLabel[label] = list = [];
                list.Add(new ChartPoint(px, value));
            }
        return byLabel.Select(kv => (kv.Key, kv.Value.ToArray())).ToList();
    }

    /// <summary>
    /// Mean value per label over <paramref name="columns"/> equal step ranges; rows in label order, or with
    /// <paramref name="reportedOrder"/> in the order the points list them (a model's parts from input to output).
    /// </summary>
    public static HeatmapGrid Heatmap(IReadOnlyList<MetricPoint> points, Func<MetricPoint, string?> json, int columns = 100, int maxParsed = 20_000,
        bool reportedOrder = false)
    {
        var parsed = Parse(points, json, p => p.Step, maxParsed).ToList();
        if (parsed.Count == 0) return new HeatmapGrid([], [], new double?[0, 0]);
        var labels = parsed.SelectMany(p => p.Values.Keys).Distinct();
        var rows = (reportedOrder ? labels : labels.Order(StringComparer.Ordinal)).ToList();
        long first = parsed[0].Step, last = parsed[^1].Step;
        var span = Math.Max(1, last - first + 1);
        var count = (int)Math.Min(columns, span);
        var sums = new double[rows.Count, count];
        var ns = new int[rows.Count, count];
        foreach (var (step, _, values) in parsed)
        {
            var c = (int)Math.Min(count - 1, (step - first) * count / span);
            for (int r = 0; r < rows.Count; r++)
                if (values.TryGetValue(rows[r], out var v) && double.IsFinite(v)) { sums[r, c] += v; ns[r, c]++; }
        }
        var grid = new double?[rows.Count, count];
        for (int r = 0; r < rows.Count; r++)
            for (int c = 0; c < count; c++)
                grid[r, c] = ns[r, c] > 0 ? sums[r, c] / ns[r, c] : null;
        var ranges = Enumerable.Range(0, count).Select(c => (first + c * span / count, first + (c + 1) * span / count - 1)).ToList();
        return new HeatmapGrid(rows, ranges, grid);
    }
}
