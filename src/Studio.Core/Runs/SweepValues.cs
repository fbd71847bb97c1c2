using System.Globalization;
using System.Text.RegularExpressions;

namespace Studio.Core.Runs;

/// <summary>
/// How a sweep picks its runs: every combination of the axes' values (a grid), or <see cref="RandomRuns"/> draws
/// (random search, Bergstra and Bengio 2012), each axis drawing from its distribution or choosing among its values,
/// from <see cref="Seed"/>, so the same request draws the same runs. <see cref="Bayesian"/>: the same draws for the
/// first <see cref="AtOnce"/> runs, then each next run proposed by TPE from the results of those that finished
/// (<see cref="RunSweep.ProposeNext"/>), keeping <see cref="AtOnce"/> runs queued or running until there are <see cref="RandomRuns"/>.
/// </summary>
public sealed record SweepSearch(int? RandomRuns = null, int Seed = 0, bool Bayesian = false, int AtOnce = 2)
{
    public static readonly SweepSearch Grid = new();
    /// <summary>Whether values may be drawn from distributions (random and Bayesian search).</summary>
    public bool IsRandom => RandomRuns is not null;
    public override string ToString() => Bayesian ? $"Bayesian search (TPE), {RandomRuns} runs, {AtOnce} at once, seed {Seed}"
        : IsRandom ? $"random search, {RandomRuns} runs, seed {Seed}" : "grid";
}

/// <summary>
/// Values written as numpy writes them, for a sweep's axis: <c>linspace(a, b, n)</c> (n evenly spaced, both ends
/// included), <c>geomspace(a, b, n)</c> (n spaced by a constant ratio), <c>logspace(a, b, n)</c> (10^a to 10^b),
/// <c>range(a, b[, step])</c> (whole numbers, b left out), each standing for its values; and, for random search only,
/// <c>uniform(a, b)</c> and <c>loguniform(a, b)</c> (drawn evenly in the value or in its logarithm). Numbers are written
/// with three significant digits (whole numbers as they are), so a run's name says exactly what its YAML holds.
/// </summary>
public static partial class SweepValues
{
    /// <summary>At most this many values from one range (a grid still queues at most <see cref="RunSweep.MaxRuns"/> runs).</summary>
    public const int MaxExpanded = 1000;

    /// <summary>A distribution to draw from: <c>uniform(a, b)</c> or <c>loguniform(a, b)</c>.</summary>
    public sealed record Distribution(string Text, bool Logarithmic, double Low, double High)
    {
        public double Draw(Random random)
        {
            var u = random.NextDouble();
            return Logarithmic ? Math.Exp(Math.Log(Low) + (Math.Log(High) - Math.Log(Low)) * u) : Low + (High - Low) * u;
        }
    }

    [GeneratedRegex(@"^(linspace|geomspace|logspace|range|uniform|loguniform)\s*\((.*)\)$")]
    private static partial Regex Call();

    /// <summary>Whether the text is one of the functions above (otherwise it is a YAML value).</summary>
    public static bool IsCall(string text) => Call().IsMatch(text);

    /// <summary>
    /// The values a range stands for, or the distribution it names; null with a problem when the text is such a
    /// call but its arguments are wrong. Call it only where <see cref="IsCall"/> holds.
    /// </summary>
    public static (IReadOnlyList<string>? Values, Distribution? Distribution) Read(string text, out string? problem)
    {
        problem = null;
        var match = Call().Match(text);
        var function = match.Groups[1].Value;
        var parts = match.Groups[2].Value.Split(',').Select(p => p.Trim()).ToList();
        var numbers = new List<double>();
        foreach (var part in parts)
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.IsFinite(x))
            {
                problem = $"{text}: '{part}' is not a number";
                return (null, null);
            }
            numbers.Add(x);
        }
        var expected = function switch { "range" => "2 or 3", "uniform" or "loguniform" => "2", _ => "3" };
        if (!expected.Split(" or ").Select(int.Parse).Contains(numbers.Count))
        {
            problem = $"{text}: {function} takes {expected} numbers ({Usage(function)})";
            return (null, null);
        }
        var (a, b) = (numbers[0], numbers[1]);
        switch (function)
        {
            case "uniform" or "loguniform":
                if (!(a < b)) problem = $"{text}: the low end must be below the high end";
                else if (function == "loguniform" && a <= 0) problem = $"{text}: loguniform needs positive ends";
                return problem is null ? (null, new Distribution(text, function == "loguniform", a, b)) : (null, null);
            case "range":
                var step = numbers.Count == 3 ? numbers[2] : 1;
                if (numbers.Any(n => n != Math.Floor(n))) { problem = $"{text}: range takes whole numbers"; return (null, null); }
                if (step == 0) { problem = $"{text}: the step must not be 0"; return (null, null); }
                var count = Math.Max(0, Math.Ceiling((b - a) / step));
                if (count == 0) { problem = $"{text}: gives no values (the end is left out)"; return (null, null); }
                if (count > MaxExpanded) { problem = $"{text}: {count:N0} values, more than {MaxExpanded:N0}"; return (null, null); }
                return (Enumerable.Range(0, (int)count).Select(i => Number(a + i * step)).ToList(), null);
            default:
                var n = numbers[2];
                if (n != Math.Floor(n) || n < 1 || n > MaxExpanded) { problem = $"{text}: the count must be a whole number from 1 to {MaxExpanded:N0}"; return (null, null); }
                if (function == "geomspace" && (a == 0 || b == 0 || Math.Sign(a) != Math.Sign(b)))
                {
                    problem = $"{text}: geomspace needs two ends of the same sign, neither 0";
                    return (null, null);
                }
                var values = Enumerable.Range(0, (int)n).Select(i =>
                {
                    var t = n == 1 ? 0 : i / (n - 1);
                    return function switch
                    {
                        "linspace" => a + (b - a) * t,
                        "logspace" => Math.Pow(10, a + (b - a) * t),
                        _ => Math.Sign(a) * Math.Exp(Math.Log(Math.Abs(a)) + (Math.Log(Math.Abs(b)) - Math.Log(Math.Abs(a))) * t),
                    };
                }).Select(Number).ToList();
                return (values, null);
        }
    }

    static string Usage(string function) => function switch
    {
        "range" => "range(start, stop) or range(start, stop, step)",
        "uniform" or "loguniform" => $"{function}(low, high)",
        _ => $"{function}(start, stop, count)",
    };

    /// <summary>A whole number as it is; any other with three significant digits, in exponent form below 0.001 or from 100,000 ("3.16e-4").</summary>
    public static string Number(double x)
    {
        var rounded = double.Parse(x.ToString("G3", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        if (Math.Abs(x) < 1e15 && Math.Abs(x - Math.Round(x)) <= 1e-9 * Math.Max(1, Math.Abs(x)))
            return Math.Round(x).ToString("0", CultureInfo.InvariantCulture);
        var magnitude = Math.Abs(rounded);
        if (magnitude != 0 && (magnitude < 1e-3 || magnitude >= 1e5))
        {
            var exponent = (int)Math.Floor(Math.Log10(magnitude));
            var mantissa = Math.Round(rounded / Math.Pow(10, exponent), 2);
            if (Math.Abs(mantissa) >= 10) { mantissa /= 10; exponent++; }
            return $"{mantissa.ToString("0.##", CultureInfo.InvariantCulture)}e{exponent}";
        }
        return rounded.ToString("0.######", CultureInfo.InvariantCulture);
    }
}
