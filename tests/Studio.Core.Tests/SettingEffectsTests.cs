using Studio.Core.Runs;

namespace Studio.Core.Tests;

public class SettingEffectsTests
{
    [Fact]
    public void SpearmansRhoIsThePearsonCorrelationOfTheRanksWithTiesSharingTheirMeanRank()
    {
        Assert.Equal(-1, SettingEffects.Spearman([1e-4, 3e-4, 1e-3, 3e-3], [0.4, 0.3, 0.2, 0.1])!.Value, 12);
        Assert.Equal(1, SettingEffects.Spearman([1, 2, 3], [10, 20, 1000])!.Value, 12); // ranks, not values
        // x ranks 1.5, 1.5, 3, 4 against 1, 2, 3, 4: 4.5 / sqrt(4.5 * 5).
        Assert.Equal(4.5 / Math.Sqrt(4.5 * 5), SettingEffects.Spearman([1, 1, 2, 3], [1, 2, 3, 4])!.Value, 12);
        Assert.Null(SettingEffects.Spearman([2, 2, 2], [1, 2, 3]));
    }

    [Fact]
    public void ANumericFieldGetsItsCorrelationAndAnyOtherTheValueWithTheLowestMeanLoss()
    {
        static IReadOnlyDictionary<string, string> Settings(string lr, string preset) => new Dictionary<string, string> { ["optimizer.lr"] = lr, ["student.preset"] = preset };
        var runs = new List<(IReadOnlyDictionary<string, string>, double)>
        {
            (Settings("1e-4", "toy-small"), 0.5),
            (Settings("3e-4", "toy-base"), 0.3),
            (Settings("1e-3", "toy-small"), 0.4),
            (Settings("3e-3", "toy-base"), 0.1),
        };
        var effects = SettingEffects.Of(runs, ["optimizer.lr", "student.preset"]);

        // lr ranks 1, 2, 3, 4 against loss ranks 4, 2, 3, 1: sum of products of deviations -4 over 5: -0.8.
        Assert.Equal(("optimizer.lr", 4), (effects[0].Field, effects[0].Runs));
        Assert.Equal(-0.8, effects[0].Spearman!.Value, 12);
        Assert.Null(effects[0].BestValue);
        // toy-base: (0.3 + 0.1) / 2 = 0.2 against toy-small's 0.45.
        Assert.Null(effects[1].Spearman);
        Assert.Equal(("toy-base", 0.2, 2), (effects[1].BestValue!.Value.Value, Math.Round(effects[1].BestValue!.Value.MeanLoss, 12), effects[1].BestValue!.Value.Runs));

        // Two runs are too few for a correlation.
        Assert.Null(SettingEffects.Of(runs.Take(2).ToList(), ["optimizer.lr"])[0].Spearman);
    }
}
