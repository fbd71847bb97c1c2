using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Toy;

/// <summary>The percentile bootstrap over prompts behind every interval the toy world reports.</summary>
public class BootstrapTests
{
    static int[] OnePromptEach(int n) => Enumerable.Range(0, n).ToArray();

    [Fact]
    public void EqualScoresGiveAZeroWidthIntervalAtThatValue()
    {
        var interval = Bootstrap.MeanInterval(Enumerable.Repeat(0.7, 12).ToArray(), OnePromptEach(12));
        // Every resample's mean is 12 x 0.7 / 12, the same number (up to float rounding of the sum).
        Assert.Equal(0.7, interval.Low, 12);
        Assert.Equal(0.7, interval.High, 12);
    }

    [Fact]
    public void ATwoValuedSampleGetsAnIntervalAroundItsMeanWithinItsRange()
    {
        // 10 zeros and 10 ones: mean 0.5, standard error sqrt(0.25 / 20) = 0.112, so a 95% interval of about
        // 0.5 -/+ 1.96 * 0.112 = 0.28 to 0.72 (a percentile bootstrap of 20 values lands on multiples of 1/20).
        var scores = Enumerable.Range(0, 20).Select(i => i % 2 == 0 ? 0.0 : 1.0).ToArray();
        var interval = Bootstrap.MeanInterval(scores, OnePromptEach(20));
        Assert.InRange(interval.Low, 0.2, 0.35);
        Assert.InRange(interval.High, 0.65, 0.8);
        Assert.True(interval.Low <= 0.5 && 0.5 <= interval.High, interval.ToString());
        Assert.True(interval.Low >= 0 && interval.High <= 1, interval.ToString());
    }

    [Fact]
    public void TheSameSeedGivesTheSameIntervalAnotherSeedAnother()
    {
        var scores = Enumerable.Range(0, 30).Select(i => i * i % 7 / 7.0).ToArray();
        var a = Bootstrap.MeanInterval(scores, OnePromptEach(30));
        Assert.Equal(a, Bootstrap.MeanInterval(scores, OnePromptEach(30)));
        Assert.NotEqual(a, Bootstrap.MeanInterval(scores, OnePromptEach(30), seed: Bootstrap.Seed + 1));
    }

    [Fact]
    public void ThePromptsSeedsAreResampledTogether()
    {
        // Two seeds per prompt that score alike carry no more evidence than one: the interval is exactly the one of
        // the prompts alone (the same draws pick the same prompts), and wider than if the 10 images were independent.
        double[] perPrompt = [0, 1, 1, 0, 1];
        var twoSeeds = perPrompt.Concat(perPrompt).ToArray();
        var promptOf = OnePromptEach(5).Concat(OnePromptEach(5)).ToArray();
        var grouped = Bootstrap.MeanInterval(twoSeeds, promptOf);
        Assert.Equal(Bootstrap.MeanInterval(perPrompt, OnePromptEach(5)), grouped);
        var independent = Bootstrap.MeanInterval(twoSeeds, OnePromptEach(10));
        Assert.True(grouped.High - grouped.Low > independent.High - independent.Low, $"{grouped} vs {independent}");
    }

    [Fact]
    public void ABiasShiftedIntervalMovesThePercentilesByTheResamplesMeanMinusTheEstimate()
    {
        // Resampled values 1.5, 1.501, ..., 2.5 (mean 2.0) around an estimate of 1.0: a bias of 1.0, so the percentile
        // interval (1.525, 2.475) moves to (0.525, 1.475); with an estimate of 0.1, the low end stops at the floor 0.
        var statistics = Enumerable.Range(0, 1001).Select(i => 1.5 + i / 1000.0).ToArray();
        var shifted = Bootstrap.BiasShiftedPercentiles(1.0, statistics);
        Assert.Equal(0.525, shifted.Low, 9);
        Assert.Equal(1.475, shifted.High, 9);
        var floored = Bootstrap.BiasShiftedPercentiles(0.1, statistics);
        Assert.Equal(0, floored.Low);
        Assert.Equal(0.575, floored.High, 9);
    }

    [Fact]
    public void AFrechetDistancesIntervalHoldsItsEstimate()
    {
        // Two samples of 40 from one distribution: their FD is small, and every resample of 40 prompts, which repeats
        // some, has a larger one. The plain percentile interval then lies above the estimate; the shifted one holds it.
        var random = new Random(7);
        double[][] Draw() => Enumerable.Range(0, 40).Select(_ => Enumerable.Range(0, 3).Select(_ => random.NextDouble()).ToArray()).ToArray();
        var (a, b) = (Draw(), Draw());
        var estimate = FrechetDistance.Compute(a, b);
        var resampled = FrechetDistance.ComputePaired(a, b, Bootstrap.Draws(OnePromptEach(40)));
        Assert.True(Bootstrap.Percentiles(resampled).Low > estimate, $"the plain interval {Bootstrap.Percentiles(resampled)} should lie above {estimate}");
        var interval = Bootstrap.BiasShiftedPercentiles(estimate, resampled);
        Assert.True(interval.Low <= estimate && estimate <= interval.High, $"{interval} does not hold {estimate}");
    }

    [Fact]
    public void BadInputIsRefusedWithWhatWasWrong()
    {
        Assert.Contains("3 scores but 2 prompt indices", Assert.Throws<ArgumentException>(() => Bootstrap.MeanInterval([1, 2, 3], [0, 1])).Message);
        Assert.Contains("at least one image", Assert.Throws<ArgumentException>(() => Bootstrap.MeanInterval([], [])).Message);
        Assert.Contains("2 samples per selection", Assert.Throws<ArgumentException>(() => FrechetDistance.ComputePaired([[0.0], [1.0]], [[0.0], [1.0]], [[1]])).Message);
    }

    [Fact]
    public void AResampledFrechetDistanceIsTheDistanceOfTheSamplesTakenThatOften()
    {
        // The batched, count-weighted moments and the Cholesky route against the plain distance of the same samples
        // written out (the route's jitter moves it by far less than 1e-6 here).
        double[][] a = [[1, 2], [-1, -2], [1, -2], [-1, 2]], b = [[3, 1], [1, 1], [3, 3], [1, 4]];
        int[][] selections = [[0, 1, 2, 3], [0, 0, 1, 2, 3], [3, 1, 1, 2]];
        var distances = FrechetDistance.ComputePaired(a, b, selections);
        for (int r = 0; r < selections.Length; r++)
            Assert.Equal(FrechetDistance.Compute(selections[r].Select(i => a[i]).ToArray(), selections[r].Select(i => b[i]).ToArray()), distances[r], 6);
    }

    [Fact]
    public void TheEvaluatorGivesEachScoreAnIntervalAndTheFrechetDistanceOfPerfectImagesAZeroWidthOne()
    {
        // Clean renders of their own scenes: the Fréchet distance is 0 on every resample too, so its interval is
        // [0, 0] (up to rounding); every reported score has an interval that holds it.
        var prompts = ToyPrompts.HeldOut(ToyCriteria.All, 20);
        var report = ToyEvaluator.Evaluate(prompts, prompts.Select(p => ToyRenderer.Render(p.Scene)).ToArray());
        Assert.InRange(report.Intervals.FrechetAll!.High, 0, 1e-6);
        Assert.InRange(report.Intervals.ImageQualityFrechet!.High, 0, 1e-6);
        Assert.All(report.Categories, c => Assert.InRange(c.Score!.Value, c.Interval!.Low, c.Interval.High));
        Assert.InRange(report.Semantics!.Value, report.Intervals.Semantics!.Low, report.Intervals.Semantics.High);
        Assert.InRange(report.Text!.Value, report.Intervals.Text!.Low, report.Intervals.Text.High);
    }
}
