namespace Studio.Core.Runs;

/// <summary>
/// How one differing setting went with the runs' best held-out vision loss (W&amp;B's sweep panel shows the like): for a
/// field whose values are all numbers, Spearman's rank correlation over the runs (ties share their mean rank; negative:
/// the larger the value, the lower the loss); for any other, the value whose runs have the lowest mean loss.
/// </summary>
/// <param name="Spearman">Null when the field is not numeric, or fewer than 3 runs or only one of its values have a loss.</param>
/// <param name="BestValue">The value with the lowest mean best loss and that mean (for a field that is not numeric).</param>
public sealed record SettingEffect(string Field, int Runs, double? Spearman, (string Value, double MeanLoss, int Runs)? BestValue);

public static class SettingEffects
{
    /// <param name="runs">Each run's settings (<see cref="RunSettings.Of"/>) and its best held-out loss (runs without one are left out).</param>
    public static List<SettingEffect> Of(IReadOnlyList<(IReadOnlyDictionary<string, string> Settings, double Loss)> runs, IReadOnlyList<string> fields)
    {
        var effects = new List<SettingEffect>();
        foreach (var field in fields)
        {
            var values = runs.Select(r => (Text: RunSettings.Value(r.Settings, field), r.Loss)).ToList();
            var numbers = values.Select(v => RunSettings.Number(v.Text)).ToList();
            if (numbers.All(n => n is not null))
            {
                var xs = numbers.Select(n => n!.Value).ToList();
                var spearman = values.Count >= 3 && xs.Distinct().Count() > 1 ? Spearman(xs, values.Select(v => v.Loss).ToList()) : null;
                effects.Add(new SettingEffect(field, values.Count, spearman, null));
            }
            else
            {
                var best = values.GroupBy(v => v.Text).Select(g => (Value: g.Key, MeanLoss: g.Average(v => v.Loss), Runs: g.Count()))
                    .OrderBy(g => g.MeanLoss).ThenBy(g => g.Value, StringComparer.Ordinal).First();
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
