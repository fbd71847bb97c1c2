using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Tests;

public class RunSeriesTests
{
    [Fact]
    public void ALongLiveRunIsThinnedToTheCapacityOnAPowerOfTwoGridKeepingTheFirstAndNewestPoints()
    {
        var series = new RunSeries(capacity: 100);
        for (long step = 1; step <= 1000; step++) series.Merge([P(step)]);

        Assert.InRange(series.Points.Count, 50, 100);
        Assert.Equal(16, series.Stride);   // 1000 steps / 100 points: 8 leaves 125, 16 leaves 62
        Assert.Equal(1, series.Points[0].Step);
        Assert.Equal(1000, series.Points[^1].Step);
        Assert.All(series.Points.Skip(1).SkipLast(1), p => Assert.Equal(0, p.Step % 16));
        AssertEvenlySpread(series);

        // The newest point always shows, and is replaced by the next unless it falls on the grid.
        series.Merge([P(1001)]);
        Assert.Equal(1001, series.Points[^1].Step);
        Assert.DoesNotContain(series.Points, p => p.Step == 1000);   // 1000 is off the grid of 16
        series.Merge([P(1002)]);
        Assert.DoesNotContain(series.Points, p => p.Step == 1001);
        // A late copy of an off-grid older step is not held; one on the grid replaces its point.
        series.Merge([P(17), P(32, loss: 5)]);
        Assert.DoesNotContain(series.Points, p => p.Step == 17);
        Assert.Equal(5, series.Points.Single(p => p.Step == 32).Loss);
    }

    [Fact]
    public void TheCurrentActivityIsCountedOnlyWhileItsNewestLineCarriesCounts()
    {
        RunEvent Line(long id, string kind, string message, string? data = null) =>
            new() { Id = id, Kind = kind, Message = message, DataJson = data, Time = DateTime.UtcNow };
        var series = new RunSeries();
        series.MergeEvents([Line(1, "Queued", "queued"), Line(2, "Progress", "fingerprinting the teacher encoder")]);
        Assert.Null(series.Activity);
        series.MergeEvents([Line(4, "Progress", "filling: 10 / 40 prompts", """{"done":"10","total":"40"}""")]);
        Assert.Equal(new ActivityProgress("filling: 10 / 40 prompts", 10, 40), series.Activity);
        Assert.Equal(0.25, series.Activity!.Fraction);
        // A back-filled older line does not replace the newest; a checkpoint line does not end the activity.
        series.MergeEvents([Line(3, "Progress", "filling: 0 / 40 prompts", """{"done":"0","total":"40"}"""), Line(5, "CheckpointWritten", "checkpoint")]);
        Assert.Equal(10, series.Activity!.Done);
        series.MergeEvents([Line(6, "StageStarted", "stage 1")]);
        Assert.Null(series.Activity);
    }

    [Fact]
    public async Task TheOverviewOfAStoredRunReadsEveryStrideThStepAndLiveMergesContinueOnItsGrid()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        await using (var context = db.CreateDbContext())
        {
            context.MetricPoints.AddRange(Enumerable.Range(1, 5003).Select(i => new MetricPoint { RunId = run.Id, Step = i, Loss = 1.0 / i, Time = DateTime.UtcNow }));
            await context.SaveChangesAsync();
        }
        var data = new RunData(db);

        var (points, stride) = await data.MetricsOverviewAsync(run.Id, maxPoints: 1000);

        Assert.Equal(8, stride);   // 5003 points: 4 would leave 1250, 8 leaves 625
        Assert.Equal(1, points[0].Step);
        Assert.Equal(5003, points[^1].Step);
        Assert.Equal(Enumerable.Range(1, 625).Select(i => 8L * i), points.Skip(1).SkipLast(1).Select(p => p.Step));
        Assert.Equal(1.0 / 5003, points[^1].Loss);

        var series = new RunSeries(capacity: 1000);
        series.MergeOverview(points, stride);
        series.Merge(Enumerable.Range(5004, 100).Select(i => P(i)));
        Assert.Equal(5103, series.LastStep);
        Assert.Equal(8, series.Stride);
        AssertEvenlySpread(series);
        Assert.Empty(await data.MetricsSinceAsync(run.Id, series.LastStep));

        // A short run is read whole.
        var (all, one) = await data.MetricsOverviewAsync(run.Id, maxPoints: 10_000);
        Assert.Equal(1, one);
        Assert.Equal(5003, all.Count);
    }

    static void AssertEvenlySpread(RunSeries series)
    {
        var steps = series.Points.Select(p => p.Step).ToList();
        Assert.Equal(steps.Order(), steps);
        Assert.All(steps.Zip(steps.Skip(1)), pair => Assert.InRange(pair.Second - pair.First, 1, series.Stride));
    }

    static MetricPoint P(long step, double loss = 1) => new() { Step = step, Loss = loss };
}
