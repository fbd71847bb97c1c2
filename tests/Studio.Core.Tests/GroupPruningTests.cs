using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

public class GroupPruningTests
{
    static RunData.HeldOutMean V(int run, long step, double loss) => new(run, step, loss);
    static PruneQuestion Median(long step, double best) => new("median", 3, step, best);
    static PruneQuestion Halving(long step, double best, int factor = 3) => new("halving", factor, step, best);

    [Fact]
    public void ARunWorseThanTheMedianOfTheOthersBestsUpToItsStepStops()
    {
        // Bests up to step 200: run 1 0.2 (its 0.1 at step 300 is later), run 2 0.3, run 3 0.5; median 0.3.
        var others = new[] { V(1, 100, 0.4), V(1, 200, 0.2), V(1, 300, 0.1), V(2, 100, 0.3), V(2, 200, 0.35), V(3, 200, 0.5) };
        Assert.Null(GroupPruning.Decide("lr", Median(200, 0.3), others)); // equal to the median: goes on
        Assert.Equal("stopped at step 200 (validation.prune: median): its best held-out vision loss (0.31) is worse than the median (0.3) " +
                     "of the best ones of 3 other runs of group 'lr' up to this step", GroupPruning.Decide("lr", Median(200, 0.31), others));
        // Four others: the median is the mean of the middle two (0.3 and 0.5).
        Assert.Null(GroupPruning.Decide("lr", Median(200, 0.39), [.. others, V(4, 200, 0.9)]));
        Assert.NotNull(GroupPruning.Decide("lr", Median(200, 0.41), [.. others, V(4, 200, 0.9)]));
    }

    [Fact]
    public void RunsThatDidNotGetAsFarOrTooFewOthersNeverStopARun()
    {
        // Run 3 stopped at step 100, so it is not compared at step 200: two others are too few.
        var others = new[] { V(1, 100, 0.1), V(1, 200, 0.1), V(2, 100, 0.1), V(2, 200, 0.1), V(3, 100, 0.1) };
        Assert.Null(GroupPruning.Decide("lr", Median(200, 9.0), others));
        Assert.NotNull(GroupPruning.Decide("lr", Median(100, 9.0), others)); // at step 100 all three had got that far
        // A run whose validations were all not numbers has no best, and does not count.
        Assert.Null(GroupPruning.Decide("lr", Median(100, 9.0), [V(1, 100, 0.1), V(2, 100, 0.1), V(3, 100, double.NaN)]));
        Assert.Null(GroupPruning.Decide("lr", Median(100, 9.0), []));
    }

    [Fact]
    public void HalvingKeepsARunAmongTheBestOneInFactorOfTheRunsThatReachedTheRungItselfIncluded()
    {
        // The first run to reach a rung goes on, however bad.
        Assert.Null(GroupPruning.Decide("lr", Halving(300, 9.0), []));
        // Bests up to step 300: run 1 0.2 (its 0.1 at step 400 is later), run 2 0.5. Three runs with this one: the best 1 goes on.
        var others = new[] { V(1, 100, 0.4), V(1, 300, 0.2), V(1, 400, 0.1), V(2, 300, 0.5) };
        Assert.Null(GroupPruning.Decide("lr", Halving(300, 0.1), others));
        Assert.Null(GroupPruning.Decide("lr", Halving(300, 0.2), others)); // a tie goes on
        Assert.Equal("stopped at step 300 (validation.prune: halving): its best held-out vision loss (0.3) is not among the best 1 of the 3 runs " +
                     "of group 'lr' that got this far (the best 1/3 go on; the best is 0.2)", GroupPruning.Decide("lr", Halving(300, 0.3), others));
        // Six runs, factor 2: the best 3 go on (others 0.1 ... 0.5).
        var five = Enumerable.Range(1, 5).Select(i => V(i, 300, i / 10.0)).ToList();
        Assert.Null(GroupPruning.Decide("lr", Halving(300, 0.3, factor: 2), five));
        Assert.Equal("stopped at step 300 (validation.prune: halving): its best held-out vision loss (0.35) is not among the best 3 of the 6 runs " +
                     "of group 'lr' that got this far (the best 1/2 go on; the 3rd best is 0.3)", GroupPruning.Decide("lr", Halving(300, 0.35, factor: 2), five));
        // Factor 3 with the same six: the best 2 go on.
        Assert.Contains("not among the best 2 of the 6 runs", GroupPruning.Decide("lr", Halving(300, 0.25), five));
        Assert.Null(GroupPruning.Decide("lr", Halving(300, 0.2), five));
    }

    [Fact]
    public void HalvingComparesOnlyTheRunsThatGotAsFar()
    {
        // Run 3 stopped at step 100 with a low loss: at step 300 the run is compared with run 1 alone (two runs: the best 1 goes on).
        var others = new[] { V(1, 100, 0.2), V(1, 300, 0.25), V(3, 100, 0.01) };
        Assert.Null(GroupPruning.Decide("lr", Halving(300, 0.15), others));
        Assert.Equal("stopped at step 300 (validation.prune: halving): its best held-out vision loss (0.3) is not among the best 1 of the 2 runs " +
                     "of group 'lr' that got this far (the best 1/3 go on; the best is 0.2)", GroupPruning.Decide("lr", Halving(300, 0.3), others));
        // At step 100 run 3 counts, and its 0.01 is the best.
        Assert.Contains("the best is 0.01", GroupPruning.Decide("lr", Halving(100, 0.15), others));
        Assert.Null(GroupPruning.Decide("lr", new PruneQuestion("none", 3, 100, 9.0), others));
    }

    [Fact]
    public async Task TheDecisionReadsTheStoredValidationsOfTheRunsOfTheSameGroupOnly()
    {
        var db = await TestDatabase.CreateAsync();
        await using (var context = db.CreateDbContext())
        {
            var runs = new[] { "lr", "lr", "lr", "lr", "other", "other", "other" }.Select((g, i) => new Run { Name = $"run {i}", Group = g, ConfigYaml = "" }).ToList();
            var alone = new Run { Name = "alone", ConfigYaml = "" };
            context.Runs.AddRange([.. runs, alone]);
            await context.SaveChangesAsync();
            // Runs 2-4 of group lr: held-out 0.2 (the mean of 0.1 and 0.3 over two categories); group other: 0.9.
            foreach (var run in runs.Skip(1))
                foreach (var (category, loss) in new[] { ("text", run.Group == "lr" ? 0.1 : 0.9), ("semantics", run.Group == "lr" ? 0.3 : 0.9) })
                    context.ValidationPoints.Add(new ValidationPoint { RunId = run.Id, Step = 50, Category = category, VisionLoss = loss });
            await context.SaveChangesAsync();
            var first = runs[0].Id;
            Assert.Null(GroupPruning.Decide(db, first, Median(50, 0.2)));
            Assert.Contains("worse than the median (0.2) of the best ones of 3 other runs of group 'lr'", GroupPruning.Decide(db, first, Median(50, 0.25)));
            Assert.Null(GroupPruning.Decide(db, alone.Id, Median(50, 5.0))); // no group: nothing to compare with
            // Halving: four runs at step 50 (three at 0.2), the best 1 goes on.
            Assert.Null(GroupPruning.Decide(db, first, Halving(50, 0.2)));
            Assert.Contains("not among the best 1 of the 4 runs of group 'lr' that got this far (the best 1/3 go on; the best is 0.2)", GroupPruning.Decide(db, first, Halving(50, 0.21)));
            Assert.Null(GroupPruning.Decide(db, alone.Id, Halving(50, 5.0)));
        }
    }
}
