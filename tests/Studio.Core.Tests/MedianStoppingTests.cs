using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Core.Runs;

namespace Studio.Core.Tests;

public class MedianStoppingTests
{
    static RunData.HeldOutMean V(int run, long step, double loss) => new(run, step, loss);

    [Fact]
    public void ARunWorseThanTheMedianOfTheOthersBestsUpToItsStepStops()
    {
        // Bests up to step 200: run 1 0.2 (its 0.1 at step 300 is later), run 2 0.3, run 3 0.5; median 0.3.
        var others = new[] { V(1, 100, 0.4), V(1, 200, 0.2), V(1, 300, 0.1), V(2, 100, 0.3), V(2, 200, 0.35), V(3, 200, 0.5) };
        Assert.Null(MedianStopping.Decide("lr", 200, 0.3, others)); // equal to the median: goes on
        Assert.Equal("stopped at step 200 (validation.prune: median): its best held-out vision loss (0.31) is worse than the median (0.3) " +
                     "of the best ones of 3 other runs of group 'lr' up to this step", MedianStopping.Decide("lr", 200, 0.31, others));
        // Four others: the median is the mean of the middle two (0.3 and 0.5).
        Assert.Null(MedianStopping.Decide("lr", 200, 0.39, [.. others, V(4, 200, 0.9)]));
        Assert.NotNull(MedianStopping.Decide("lr", 200, 0.41, [.. others, V(4, 200, 0.9)]));
    }

    [Fact]
    public void RunsThatDidNotGetAsFarOrTooFewOthersNeverStopARun()
    {
        // Run 3 stopped at step 100, so it is not compared at step 200: two others are too few.
        var others = new[] { V(1, 100, 0.1), V(1, 200, 0.1), V(2, 100, 0.1), V(2, 200, 0.1), V(3, 100, 0.1) };
        Assert.Null(MedianStopping.Decide("lr", 200, 9.0, others));
        Assert.NotNull(MedianStopping.Decide("lr", 100, 9.0, others)); // at step 100 all three had got that far
        // A run whose validations were all not numbers has no best, and does not count.
        Assert.Null(MedianStopping.Decide("lr", 100, 9.0, [V(1, 100, 0.1), V(2, 100, 0.1), V(3, 100, double.NaN)]));
        Assert.Null(MedianStopping.Decide("lr", 100, 9.0, []));
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
            Assert.Null(MedianStopping.Decide(db, first, 50, 0.2));
            Assert.Contains("worse than the median (0.2) of the best ones of 3 other runs of group 'lr'", MedianStopping.Decide(db, first, 50, 0.25));
            Assert.Null(MedianStopping.Decide(db, alone.Id, 50, 5.0)); // no group: nothing to compare with
        }
    }
}
