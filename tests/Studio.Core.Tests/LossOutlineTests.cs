using Studio.Core.Charts;
using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Tests;

/// <summary>The Runs table's loss sparkline: a run's loss in spans of equal steps, averaged by the database, extended by pushed points.</summary>
public class LossOutlineTests
{
    static MetricPoint Point(int runId, long step, double? loss) => new() { RunId = runId, Stage = 0, Step = step, Loss = loss, Time = DateTime.UtcNow };

    [Fact]
    public async Task EachSpanOfARunIsTheMeanOfItsFiniteLossesAtItsLastStep()
    {
        var db = await TestDatabase.CreateAsync();
        await using (var context = db.CreateDbContext())
        {
            // 80 updates in 40 spans: 2 steps each. Step 5's loss was not finite (stored as null).
            var planned = new Run { Name = "planned", State = RunState.Running, TotalSteps = 80, Step = 6 };
            // No total known: the newest step (10) in 40 spans, 1 step each.
            var unknown = new Run { Name = "unknown total", State = RunState.Completed, TotalSteps = 0, Step = 10 };
            var empty = new Run { Name = "no points", State = RunState.Queued, TotalSteps = 100 };
            context.Runs.AddRange(planned, unknown, empty);
            await context.SaveChangesAsync();
            context.MetricPoints.AddRange(
                Point(planned.Id, 1, 1), Point(planned.Id, 2, 3), Point(planned.Id, 3, 5), Point(planned.Id, 4, 7),
                Point(planned.Id, 5, null), Point(planned.Id, 6, 10));
            context.MetricPoints.AddRange(Enumerable.Range(1, 10).Select(s => Point(unknown.Id, s, 0.5 * s)));
            await context.SaveChangesAsync();
        }

        var data = new RunData(db);
        var outlines = await data.LossOutlinesAsync(await data.RunsAsync());

        Assert.Equal(2, outlines.Count);
        var planned2 = outlines.Values.Single(o => o.Width == 2);
        Assert.Equal([new ChartPoint(2, 2), new ChartPoint(4, 6), new ChartPoint(6, 10)], planned2.Points);
        Assert.Equal(6, planned2.LastStep);
        var unknown1 = outlines.Values.Single(o => o.Width == 1);
        Assert.Equal(Enumerable.Range(1, 10).Select(s => new ChartPoint(s, 0.5 * s)), unknown1.Points);
    }

    [Fact]
    public async Task AStoppedRunIsReadOnceUntilItIsResumedAndEveryCallGivesOutlinesOfItsOwn()
    {
        var db = await TestDatabase.CreateAsync();
        int runId;
        await using (var context = db.CreateDbContext())
        {
            var run = new Run { Name = "done", State = RunState.Completed, TotalSteps = 40, Step = 2, FinishedAt = new DateTime(2026, 12, 6, 1, 0, 0, DateTimeKind.Utc) };
            context.Runs.Add(run);
            await context.SaveChangesAsync();
            runId = run.Id;
            context.MetricPoints.AddRange(Point(runId, 1, 0.4), Point(runId, 2, 0.2));
            await context.SaveChangesAsync();
        }
        var data = new RunData(db);
        var first = (await data.LossOutlinesAsync(await data.RunsAsync()))[runId];
        first.Add(3, 99); // a page extending its copy

        // A point stored behind the studio's back is not read again while the run stays as it was...
        await using (var context = db.CreateDbContext())
        {
            context.MetricPoints.Add(Point(runId, 3, 0.1));
            await context.SaveChangesAsync();
        }
        Assert.Equal([new ChartPoint(1, 0.4), new ChartPoint(2, 0.2)], (await data.LossOutlinesAsync(await data.RunsAsync()))[runId].Points);

        // ...and is once the run went on (resumed to step 3 and finished again).
        await using (var context = db.CreateDbContext())
        {
            var run = context.Runs.Single();
            (run.Step, run.FinishedAt) = (3, run.FinishedAt!.Value.AddHours(1));
            await context.SaveChangesAsync();
        }
        Assert.Equal([new ChartPoint(1, 0.4), new ChartPoint(2, 0.2), new ChartPoint(3, 0.1)], (await data.LossOutlinesAsync(await data.RunsAsync()))[runId].Points);
    }

    /// <summary>
    /// Two visitors of the Runs page right after a start: the second waits for the first's read of the finished runs
    /// (seconds for a lab's million points) and takes it, instead of reading every run's line again beside it.
    /// </summary>
    [Fact]
    public async Task TwoCallsAtOnceReadTheStoppedRunsOnce()
    {
        var db = await TestDatabase.CreateAsync();
        await using (var context = db.CreateDbContext())
        {
            var runs = Enumerable.Range(0, 3).Select(i => new Run { Name = $"done {i}", State = RunState.Completed, TotalSteps = 40, Step = 2, FinishedAt = DateTime.UtcNow }).ToList();
            context.Runs.AddRange(runs);
            await context.SaveChangesAsync();
            foreach (var run in runs) context.MetricPoints.AddRange(Point(run.Id, 1, 0.4), Point(run.Id, 2, 0.2));
            await context.SaveChangesAsync();
        }
        var all = await new RunData(db).RunsAsync();
        var counting = new CountingDbFactory(db) { HoldFirst = TimeSpan.FromMilliseconds(300) };
        var data = new RunData(counting);

        var first = data.LossOutlinesAsync(all);   // its query waits 300 ms before it runs
        var second = data.LossOutlinesAsync(all);
        var outlines = await Task.WhenAll(first, second);

        Assert.Equal(1, counting.Commands);
        Assert.All(outlines, o => Assert.Equal(3, o.Count));
        Assert.NotSame(outlines[0].Values.First(), outlines[1].Values.First());
    }

    [Fact]
    public void PushedPointsExtendTheOutlineOnceEachAndNonFiniteLossesAreLeftOut()
    {
        var outline = new LossOutline(LossOutline.WidthFor(120)); // 3 steps a span
        Assert.Equal(3, outline.Width);
        outline.AddSpan(0, sum: 6, count: 3, lastStep: 3);

        outline.Add(3, 100);          // already counted
        outline.Add(4, 4);
        outline.Add(5, double.NaN);   // left out
        outline.Add(6, 8);
        outline.Add(7, null);         // left out, a new span without points
        outline.Add(8, 1);

        Assert.Equal([new ChartPoint(3, 2), new ChartPoint(6, 6), new ChartPoint(8, 1)], outline.Points);
        Assert.Equal(8, outline.LastStep);
    }

    [Fact]
    public void ASpanIsAtLeastOneStep()
    {
        Assert.Equal(1, LossOutline.WidthFor(0));
        Assert.Equal(1, LossOutline.WidthFor(40));
        Assert.Equal(2, LossOutline.WidthFor(41));
        Assert.Equal(25, LossOutline.WidthFor(1000));
    }
}
