namespace Studio.Core.Runs;

/// <summary>
/// How one differing setting went with the runs' result, their best held-out vision loss or an evaluation score (W&amp;B's
/// sweep panel shows the like): for a field whose values are all numbers, Spearman's rank correlation over the runs (ties
/// share their mean rank; negative: the larger the value, the lower the result) and where the best runs lie in the range
/// tried (a rank correlation misses a U-shape, such as a learning rate's: the best run inside the range says so, one at
/// its edge says to go beyond it); for any other, the value whose runs have the best mean result.
/// </summary>
/// <param name="Spearman">Null when the field is not numeric, or fewer than 3 runs or only one of its values have a result.</param>
/// <param name="BestValue">The value with the best mean result and that mean (for a field that is not numeric).</param>
/// <param name="Edge">Numeric fields with at least 3 values tried: where the best run's value is, -1 the smallest tried, +1 the largest, 0 inside.</param>
/// <param name="BestQuarter">Numeric fields with at least 4 runs: the smallest and largest value among the best quarter of the runs (rounded up).</param>
public sealed record SettingEffect(string Field, int Runs, double? Spearman, (string Value, double Mean, int Runs)? BestValue,
    (string Value, int Edge)? BestRun = null, (string Low, string High, int Runs)? BestQuarter = null);

public static class SettingEffects
{
    /// <param name="runs">Each run's settings (<see cref="RunSettings.Of"/>) and its result (runs without one are left out).</param>
    /// <param name="lowerIsBetter">Whether a lower result is better (a loss, a distance) or a higher one (an accuracy).</param>
    public static List<SettingEffect> Of(IReadOnlyList<(IReadOnlyDictionary<string, string> Settings, double Loss)> runs, IReadOnlyList<string> fields,
        bool lowerIsBetter = true)
    {
        var sign = lowerIsBetter ? 1 : -1;
        var effects = new List<SettingEffect>();
        foreach (var field in fields)
        {
            var values = runs.Select(r => (Text: RunSettings.Value(r.Settings, field), r.Loss)).ToList();
            var numbers = values.Select(v => RunSettings.Number(v.Text)).ToList();
            if (numbers.All(n => n is not null))
            {
                var xs = numbers.Select(n => n!.Value).ToList();
                var spearman = values.Count >= 3 && xs.Distinct().Count() > 1 ? Spearman(xs, values.Select(v => v.Loss).ToList()) : null;
                // Best first (ties by value, so the reading does not depend on the runs' order).
                var byLoss = Enumerable.Range(0, xs.Count).OrderBy(i => sign * values[i].Loss).ThenBy(i => xs[i]).ToList();
                (string, int)? bestRun = null;
                if (xs.Distinct().Count() >= 3)
                {
                    var best = xs[byLoss[0]];
                    bestRun = (values[byLoss[0]].Text, best == xs.Min() ? -1 : best == xs.Max() ? 1 : 0);
                }
                (string, string, int)? quarter = null;
                if (xs.Count >= 4)
                {
                    var top = byLoss.Take((xs.Count + 3) / 4).ToList();
                    quarter = (values[top.MinBy(i => xs[i])].Text, values[top.MaxBy(i => xs[i])].Text, top.Count);
                }
                effects.Add(new SettingEffect(field, values.Count, spearman, null, bestRun, quarter));
            }
            else
            {
                var best = values.GroupBy(v => v.Text).Select(g => (Value: g.Key, Mean: g.Average(v => v.Loss), Runs: g.Count()))
                    .OrderBy(g => sign * g.Mean).ThenBy(g => g.Value, StringComparer.Ordinal).First();
                effects.Add(new SettingEffect(field, values.Count, null, best));
            }
        }
        return effects;
    }

    /// <summary>Spearman's rank correlation: Pearson's correlation of the ranks (ties get their mean rank); null when either side is constant.</summary>
    public static double? Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        var (rx, ry) = (Ranks(x), Ranks(y));
        var (mx, my) = (rx.Average(), ry.Average());
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++)
        {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        return sxx == 0 || syy == 0 ? null : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>1-based ranks, ties sharing the mean of the ranks they span.</summary>
    static double[] Ranks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int start = 0; start < order.Length;)
        {
            var end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            var rank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++) ranks[order[k]] = rank;
            start = end + 1;
        }
        return ranks;
    }
}
