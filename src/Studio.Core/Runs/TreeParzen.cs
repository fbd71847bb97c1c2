namespace Studio.Core.Runs;

/// <summary>
/// The tree-structured Parzen estimator (TPE; Bergstra et al. 2011, as Hyperopt and Optuna's default sampler run it):
/// proposes the next value of one swept field from the runs that finished. The finished runs are split by their result
/// into the best fraction <see cref="Gamma"/> ("good") and the rest; each part becomes a density over the field's
/// values (a Parzen window: one truncated normal per value plus a flat prior, or counts plus a prior for a list of
/// values); <see cref="Candidates"/> values are drawn from the good density and the one where good/rest is highest
/// is proposed. Each field is proposed on its own (Optuna's default, univariate TPE).
/// </summary>
public static class TreeParzen
{
    /// <summary>The share of the finished runs counted as good (Hyperopt's 0.25), at least one.</summary>
    public const double Gamma = 0.25;
    /// <summary>Values drawn from the good density, of which the best by good/rest is proposed (Hyperopt's and Optuna's 24).</summary>
    public const int Candidates = 24;

    /// <summary>How many of <paramref name="finished"/> runs count as good.</summary>
    public static int GoodCount(int finished) => Math.Max(1, (int)Math.Ceiling(Gamma * finished));

    /// <summary>
    /// The next value of a field drawn in [low, high] (in log space when <paramref name="logarithmic"/>), from the
    /// finished runs' (value, loss) pairs, lower loss being better.
    /// </summary>
    public static double ProposeNumber(IReadOnlyList<(double Value, double Loss)> finished, double low, double high, bool logarithmic, Random random)
    {
        Func<double, double> to = logarithmic ? Math.Log : v => v;
        var (a, b) = (to(low), to(high));
        var (good, rest) = Split(finished, f => f.Loss);
        var goodDensity = new Parzen(good.Select(f => to(f.Value)).ToList(), a, b);
        var restDensity = new Parzen(rest.Select(f => to(f.Value)).ToList(), a, b);
        var best = double.NaN;
        var bestScore = double.NegativeInfinity;
        for (int i = 0; i < Candidates; i++)
        {
            var x = goodDensity.Sample(random);
            var score = goodDensity.LogDensity(x) - restDensity.LogDensity(x);
            if (score > bestScore) (best, bestScore) = (x, score);
        }
        return logarithmic ? Math.Exp(best) : best;
    }

    /// <summary>The index of the next of <paramref name="count"/> listed values, from the finished runs' (index, loss) pairs.</summary>
    public static int ProposeChoice(IReadOnlyList<(int Index, double Loss)> finished, int count, Random random)
    {
        var (good, rest) = Split(finished, f => f.Loss);
        // A flat prior of weight 1 over the values, plus one per run that took the value.
        double[] Weights(IEnumerable<int> taken)
        {
            var w = Enumerable.Repeat(1.0 / count, count).ToArray();
            foreach (var k in taken) w[k] += 1;
            var total = w.Sum();
            return w.Select(x => x / total).ToArray();
        }
        var l = Weights(good.Select(g => g.Index));
        var g = Weights(rest.Select(r => r.Index));
        var best = 0;
        var bestScore = double.NegativeInfinity;
        for (int i = 0; i < Candidates; i++)
        {
            var u = random.NextDouble();
            var k = 0;
            for (double sum = l[0]; sum < u && k < count - 1; sum += l[++k]) { }
            var score = Math.Log(l[k]) - Math.Log(g[k]);
            if (score > bestScore) (best, bestScore) = (k, score);
        }
        return best;
    }

    static (List<T> Good, List<T> Others) Split<T>(IReadOnlyList<T> finished, Func<T, double> loss)
    {
        var sorted = finished.OrderBy(loss).ToList();
        var n = GoodCount(sorted.Count);
        return (sorted.Take(n).ToList(), sorted.Skip(n).ToList());
    }

    /// <summary>
    /// A Parzen window on [low, high]: a flat prior (a normal at the middle as wide as the range) and one normal per
    /// value, as wide as the larger gap to its neighbours (the bounds count), clipped to [range / min(100, n + 1),
    /// range] (Hyperopt's rule); every component truncated to the range, all of equal weight.
    /// </summary>
    sealed class Parzen
    {
        readonly double _low, _high;
        readonly List<(double Mu, double Sigma, double Mass)> _components = [];

        public Parzen(IReadOnlyList<double> values, double low, double high)
        {
            (_low, _high) = (low, high);
            var range = high - low;
            Add((low + high) / 2, range);
            var sorted = values.Order().ToList();
            var minSigma = range / Math.Min(100, sorted.Count + 1);
            for (int i = 0; i < sorted.Count; i++)
            {
                var left = sorted[i] - (i == 0 ? low : sorted[i - 1]);
                var right = (i == sorted.Count - 1 ? high : sorted[i + 1]) - sorted[i];
                Add(sorted[i], Math.Clamp(Math.Max(left, right), minSigma, range));
            }
        }

        void Add(double mu, double sigma)
        {
            sigma = Math.Max(sigma, 1e-12);
            var mass = NormalCdf((_high - mu) / sigma) - NormalCdf((_low - mu) / sigma);
            _components.Add((mu, sigma, Math.Max(mass, 1e-12)));
        }

        public double Sample(Random random)
        {
            var (mu, sigma, _) = _components[random.Next(_components.Count)];
            for (int attempt = 0; attempt < 100; attempt++)
            {
                var x = mu + sigma * StandardNormal(random);
                if (x >= _low && x <= _high) return x;
            }
            return Math.Clamp(mu, _low, _high);
        }

        public double LogDensity(double x)
        {
            var sum = 0.0;
            foreach (var (mu, sigma, mass) in _components)
            {
                var z = (x - mu) / sigma;
                sum += Math.Exp(-0.5 * z * z) / (sigma * Math.Sqrt(2 * Math.PI) * mass);
            }
            return Math.Log(sum / _components.Count);
        }
    }

    static double StandardNormal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>The standard normal CDF, from erf (Abramowitz and Stegun 7.1.26, error below 1.5e-7).</summary>
    public static double NormalCdf(double z)
    {
        var x = Math.Abs(z) / Math.Sqrt(2);
        var t = 1 / (1 + 0.3275911 * x);
        var erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-x * x);
        return 0.5 * (1 + Math.Sign(z) * erf);
    }
}
