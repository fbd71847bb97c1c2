using Studio.Core.Runs;

namespace Studio.Core.Tests;

/// <summary>The TPE sampler of Bayesian sweeps: it proposes where the good runs were, within the field's range.</summary>
public class TreeParzenTests
{
    [Theory]
    [InlineData(0, 0.5)]
    [InlineData(1, 0.8413447461)]
    [InlineData(-1.959963985, 0.025)]
    [InlineData(3, 0.9986501020)]
    public void TheNormalCdfIsTheTablesValue(double z, double expected) => Assert.Equal(expected, TreeParzen.NormalCdf(z), 6);

    [Fact]
    public void ALearningRateIsProposedNearWhereTheBestRunsWereInLogSpace()
    {
        // Twelve finished runs from 1e-5 to 1e-1, evenly in the logarithm; the closer to 1e-3, the lower the loss.
        var finished = Enumerable.Range(0, 12).Select(i => Math.Pow(10, -5 + 4.0 * i / 11))
            .Select(lr => (lr, Math.Pow(Math.Log10(lr) + 3, 2))).ToList();
        var proposals = Enumerable.Range(0, 200).Select(seed => TreeParzen.ProposeNumber(finished, 1e-5, 1e-1, logarithmic: true, new Random(seed))).ToList();

        Assert.All(proposals, p => Assert.InRange(p, 1e-5, 1e-1));
        // Random search puts half of its draws within a decade of 1e-3 (2 of the 4 decades); TPE most of them.
        var near = proposals.Count(p => Math.Abs(Math.Log10(p) + 3) <= 1);
        Assert.True(near >= 160, $"{near} of 200 proposals within a decade of 1e-3");
    }

    [Fact]
    public void AValueOnALinearScaleIsProposedNearTheBestRunsToo()
    {
        // The loss is lowest at 0.8 of [0, 1].
        var finished = Enumerable.Range(0, 9).Select(i => i / 8.0).Select(x => (x, Math.Abs(x - 0.8))).ToList();
        var proposals = Enumerable.Range(0, 200).Select(seed => TreeParzen.ProposeNumber(finished, 0, 1, logarithmic: false, new Random(seed))).ToList();
        Assert.All(proposals, p => Assert.InRange(p, 0, 1));
        var near = proposals.Count(p => Math.Abs(p - 0.8) <= 0.2);
        Assert.True(near >= 140, $"{near} of 200 proposals within 0.2 of 0.8 (random: 80)");
    }

    [Fact]
    public void AListedValueIsProposedWhereTheGoodRunsWere()
    {
        // Three presets; the runs with the third one (index 2) did best.
        var finished = new List<(int, double)> { (0, 0.9), (1, 0.7), (2, 0.2), (0, 0.8), (1, 0.6), (2, 0.25), (0, 0.85), (1, 0.65) };
        var proposals = Enumerable.Range(0, 200).Select(seed => TreeParzen.ProposeChoice(finished, 3, new Random(seed))).ToList();
        Assert.All(proposals, p => Assert.InRange(p, 0, 2));
        Assert.True(proposals.Count(p => p == 2) >= 180, $"{proposals.Count(p => p == 2)} of 200 proposals of the best value");
    }

    [Fact]
    public void AQuarterOfTheFinishedRunsCountAsGoodAndAtLeastOne()
    {
        Assert.Equal(1, TreeParzen.GoodCount(1));
        Assert.Equal(1, TreeParzen.GoodCount(4));
        Assert.Equal(2, TreeParzen.GoodCount(5));
        Assert.Equal(3, TreeParzen.GoodCount(12));
    }
}
