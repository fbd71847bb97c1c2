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
        Assert.Equal(("toy-base", 0.2, 2), (effects[1].BestValue!.Value.Value, Math.Round(effects[1].BestValue!.Value.Mean, 12), effects[1].BestValue!.Value.Runs));

        // The best run (0.1) has the largest rate tried; the best quarter of 4 runs is that one run.
        Assert.Equal(("3e-3", 1), effects[0].BestRun);
        Assert.Equal(("3e-3", "3e-3", 1), effects[0].BestQuarter);
        Assert.Null(effects[1].BestRun);

        // Two runs are too few for a correlation, for an edge (two values) or a best quarter.
        var two = SettingEffects.Of(runs.Take(2).ToList(), ["optimizer.lr"])[0];
        Assert.Equal((null, null, null), (two.Spearman, two.BestRun, two.BestQuarter));
    }

    [Fact]
    public void AUShapedFieldHasNoDirectionButItsBestRunsInsideTheRangeTried()
    {
        static IReadOnlyDictionary<string, string> Lr(string lr) => new Dictionary<string, string> { ["optimizer.lr"] = lr };
        // A learning rate's U: too small and too large both lose; the best two of seven (a quarter, rounded up) lie inside.
        var runs = new List<(IReadOnlyDictionary<string, string>, double)>
        {
            (Lr("1e-5"), 0.9), (Lr("1e-4"), 0.5), (Lr("3e-4"), 0.2), (Lr("1e-3"), 0.1), (Lr("3e-3"), 0.3), (Lr("1e-2"), 0.6), (Lr("1e-1"), 1.0),
        };
        var lr = SettingEffects.Of(runs, ["optimizer.lr"])[0];
        // Loss ranks 6, 4, 2, 1, 3, 5, 7 against 1..7: sum of d^2 = 25+4+1+9+4+1+0 = 44, rho = 1 - 6*44/(7*48) = 0.2143.
        Assert.Equal(1 - 6.0 * 44 / (7 * 48), lr.Spearman!.Value, 12);
        Assert.Equal(("1e-3", 0), lr.BestRun);
        Assert.Equal(("3e-4", "1e-3", 2), lr.BestQuarter);
        // The smallest value best: the edge below.
        Assert.Equal(("1e-5", -1), SettingEffects.Of([(Lr("1e-5"), 0.1), (Lr("1e-4"), 0.2), (Lr("1e-3"), 0.3)], ["optimizer.lr"])[0].BestRun);
    }

    [Fact]
    public void AnAccuracyIsBestHighest()
    {
        static IReadOnlyDictionary<string, string> Run(string lr, string preset) => new Dictionary<string, string> { ["optimizer.lr"] = lr, ["student.preset"] = preset };
        // Semantic accuracy: higher is better.
        var runs = new List<(IReadOnlyDictionary<string, string>, double)>
        {
            (Run("1e-4", "toy-small"), 0.1), (Run("3e-4", "toy-base"), 0.3), (Run("1e-3", "toy-small"), 0.2), (Run("3e-3", "toy-base"), 0.25),
        };
        var effects = SettingEffects.Of(runs, ["optimizer.lr", "student.preset"], lowerIsBetter: false);
        // The correlation is of the values as they are: ranks 1, 2, 3, 4 against 1, 4, 2, 3: (−1.5·−1.5 + −0.5·1.5 + 0.5·−0.5 + 1.5·0.5) / 5 = 0.4.
        Assert.Equal(0.4, effects[0].Spearman!.Value, 12);
        // The best run is the highest (0.3 at 3e-4: inside the range), and so is the best quarter.
        Assert.Equal(("3e-4", 0), effects[0].BestRun);
        Assert.Equal(("3e-4", "3e-4", 1), effects[0].BestQuarter);
        // toy-base: (0.3 + 0.25) / 2 = 0.275 against toy-small's 0.15: the higher mean.
        Assert.Equal(("toy-base", 0.275, 2), (effects[1].BestValue!.Value.Value, Math.Round(effects[1].BestValue!.Value.Mean, 12), effects[1].BestValue!.Value.Runs));
    }
}
