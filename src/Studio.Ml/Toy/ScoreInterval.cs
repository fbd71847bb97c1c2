namespace Studio.Ml.Toy;

/// <summary>A 95% interval of a score over prompts, from its bootstrap distribution (<see cref="Bootstrap"/>).</summary>
public sealed record ScoreInterval(double Low, double High)
{
    public override string ToString() => $"{Low:0.000}-{High:0.000}";
}

/// <summary>
/// Bootstrap over prompts, the one place the toy world's intervals come from (`studio eval`, the study and the
/// studio's scaling chart): the percentile interval for means, moved by the estimated bias for Fréchet distances. A resample draws as many prompts as there are, with replacement, and keeps all the
/// images of each drawn prompt (every seed), so seeds of one prompt never count as independent evidence. The random
/// draws depend only on <see cref="Seed"/> and the number of prompts: the same scores give the same interval.
/// </summary>
public static class Bootstrap
{
    public const int Resamples = 2000;
    public const int Seed = 1234;
    const double Level = 0.95;

    /// <summary>
    /// The image indices of each resample, given which prompt each image is of (images with the same number are of the
    /// same prompt): as many prompts as there are, drawn with replacement, each with all its images (a prompt drawn
    /// twice contributes its images twice).
    /// </summary>
    public static IReadOnlyList<int[]> Draws(IReadOnlyList<int> promptOf, int resamples = Resamples, int seed = Seed)
    {
        if (promptOf.Count == 0) throw new ArgumentException("a bootstrap needs at least one image", nameof(promptOf));
        if (resamples < 1) throw new ArgumentException($"resamples: {resamples} must be at least 1", nameof(resamples));
        var prompts = Enumerable.Range(0, promptOf.Count).GroupBy(i => promptOf[i]).Select(g => g.ToArray()).ToArray();
        var random = new Random(seed);
        var draws = new int[resamples][];
        for (int r = 0; r < resamples; r++)
        {
            var chosen = new List<int>(promptOf.Count);
            for (int k = 0; k < prompts.Length; k++) chosen.AddRange(prompts[random.Next(prompts.Length)]);
            draws[r] = [.. chosen];
        }
        return draws;
    }

    /// <summary>The 95% percentile interval of a statistic's values over the resamples.</summary>
    public static ScoreInterval Percentiles(IEnumerable<double> statistics)
    {
        var sorted = statistics.ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no resampled values", nameof(statistics));
        Array.Sort(sorted);
        return new ScoreInterval(Percentile(sorted, (1 - Level) / 2), Percentile(sorted, 1 - (1 - Level) / 2));
    }

    /// <summary>
    /// The percentile interval moved by the bootstrap's estimate of the statistic's bias (the resamples' mean minus
    /// <paramref name="estimate"/>; Efron and Tibshirani, ch. 10), its low end kept at or above <paramref name="floor"/>.
    /// For a statistic that a resample inflates: a resample of n prompts repeats some and leaves others out, so the
    /// Fréchet distance of a resample is larger than the sample's, and the plain percentile interval of a toy
    /// evaluation's FD lay almost wholly above its own estimate (0.423 with 0.42-1.145, say). The shift keeps the
    /// spread the resamples show and puts it around the estimate.
    /// </summary>
    public static ScoreInterval BiasShiftedPercentiles(double estimate, IReadOnlyList<double> statistics, double floor = 0)
    {
        var interval = Percentiles(statistics);
        var bias = statistics.Average() - estimate;
        return new ScoreInterval(Math.Max(floor, interval.Low - bias), Math.Max(floor, interval.High - bias));
    }

    /// <summary>The interval of the mean of <paramref name="scores"/> (one per image).</summary>
    public static ScoreInterval MeanInterval(IReadOnlyList<double> scores, IReadOnlyList<int> promptOf, int resamples = Resamples, int seed = Seed)
    {
        if (scores.Count != promptOf.Count) throw new ArgumentException($"{scores.Count} scores but {promptOf.Count} prompt indices");
        return Percentiles(Draws(promptOf, resamples, seed).Select(draw => draw.Average(i => scores[i])));
    }

    /// <summary>Linear interpolation between the closest ranks of sorted values (as numpy's default percentile).</summary>
    static double Percentile(double[] sorted, double q)
    {
        var position = q * (sorted.Length - 1);
        int below = (int)Math.Floor(position), above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }
}
