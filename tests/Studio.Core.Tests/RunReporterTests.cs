using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

public class RunReporterTests
{
    sealed class RecordingBroadcaster : IRunBroadcaster
    {
        public List<RunBatch> Batches { get; } = [];
        public Task PublishAsync(RunBatch batch, CancellationToken ct = default)
        {
            lock (Batches) Batches.Add(batch);
            return Task.CompletedTask;
        }
    }

    static UpdateMetrics Update(long step, double loss, int stage = 0) => new()
    {
        Stage = stage, Step = step, TotalSteps = 1000, Loss = loss, LearningRate = 1e-4, GradientNorm = 0.5,
        LossBySigmaBucket = new Dictionary<string, double> { ["0.0-0.5"] = loss * 2, ["0.5-1.0"] = loss / 2 },
        LossByCategory = new Dictionary<string, double> { ["text"] = loss },
    };

    // Long interval: only explicit flushes (and MaxBatch) write, so the tests control when batches happen.
    static readonly RunReporterOptions Manual = new() { FlushInterval = TimeSpan.FromHours(1), MaxBatch = 10_000 };

    [Fact]
    public async Task TheSameStepReportedTwiceIsStoredOnceWithTheLatestValues()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var broadcaster = new RecordingBroadcaster();
        await using (var reporter = new RunReporter(run.Id, db, broadcaster, Manual))
        {
            reporter.Update(Update(1, 1.0));
            reporter.Update(Update(2, 0.9));
            await reporter.FlushAsync();
            // A retry re-delivers step 2 (in a later batch) and step 3 twice within one batch.
            reporter.Update(Update(2, 0.8));
            reporter.Update(Update(3, 0.7));
            reporter.Update(Update(3, 0.6));
        }
        await using var context = db.CreateDbContext();
        var points = await context.MetricPoints.Where(p => p.RunId == run.Id).OrderBy(p => p.Step).ToListAsync();
        Assert.Equal([1L, 2L, 3L], points.Select(p => p.Step));
        Assert.Equal([1.0, 0.8, 0.6], points.Select(p => p.Loss!.Value));
        Assert.Contains("\"0.0-0.5\":1.6", points[1].LossBySigmaBucketJson);
        var stored = await context.Runs.SingleAsync(r => r.Id == run.Id);
        Assert.Equal(3, stored.Step);
        Assert.Equal(1000, stored.TotalSteps);
        Assert.Equal(0.6, stored.LastLoss);
    }

    [Fact]
    public async Task TheCacheFillCountReachesThePageModelThroughTheLiveBatch()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var broadcaster = new RecordingBroadcaster();
        var series = new RunSeries();   // what the run page holds: fed from the pushed batches
        await using (var reporter = new RunReporter(run.Id, db, broadcaster, Manual))
        {
            reporter.Event(DistillationSetup.FillEvent("teacher-embedding cache", new CachedTeacher.FillProgress(1234, 8000, 0, 1234), TimeSpan.FromMinutes(1)));
            await reporter.FlushAsync();
            lock (broadcaster.Batches) foreach (var b in broadcaster.Batches) series.Merge(b);
            Assert.Equal(new ActivityProgress("filling the teacher-embedding cache: 1,234 / 8,000 prompts, ETA 5 min", 1234, 8000), series.Activity);
            Assert.Equal(0.15425, series.Activity!.Fraction, 6);
            Assert.Equal(series.Activity.Message, broadcaster.Batches.Single().Status!.Activity);
            // The run's ETA (the page's ETA box) is the fill's time left until updates come: 6,766 x 60 / 1,234 s.
            Assert.Equal(329, broadcaster.Batches.Single().Status!.EtaSeconds);
            // The list pages (Home, Runs, Queue) draw their bar from the run row: the fill's share, not 0 updates of 1,000.
            Assert.Equal(0.15425, broadcaster.Batches.Single().Status!.ActivityFraction!.Value, 6);
            await using (var context = db.CreateDbContext())
                Assert.Equal(0.15425, (await context.Runs.SingleAsync(r => r.Id == run.Id)).ShownProgress, 6);

            // Training starts: the next activity has no count, and the page goes back to steps.
            reporter.Event(new TrainingEvent(TrainingEventKind.Progress, 0, 0, "loading the frozen Flux transformer"));
            await reporter.FlushAsync();
            lock (broadcaster.Batches) series.Merge(broadcaster.Batches[^1]);
            Assert.Null(series.Activity);
            // ... and the fill's time left goes with its count: no "ETA 0s" while the models load, before any update.
            Assert.Null(broadcaster.Batches[^1].Status!.EtaSeconds);
            Assert.Null(broadcaster.Batches[^1].Status!.ActivityFraction);
        }
    }

    [Fact]
    public async Task DuplicateStepsInDifferentStagesAreDistinctPoints()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        await using (var reporter = new RunReporter(run.Id, db, new RecordingBroadcaster(), Manual))
        {
            reporter.Update(Update(5, 1.0, stage: 0));
            reporter.Update(Update(5, 2.0, stage: 1));
        }
        await using var context = db.CreateDbContext();
        Assert.Equal(2, await context.MetricPoints.CountAsync(p => p.RunId == run.Id));
    }

    [Fact]
    public async Task PointsAreWrittenInBatchesAndEachStoredBatchIsPublished()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var broadcaster = new RecordingBroadcaster();
        var options = new RunReporterOptions { FlushInterval = TimeSpan.FromHours(1), MaxBatch = 50 };
        await using (var reporter = new RunReporter(run.Id, db, broadcaster, options))
        {
            // MaxBatch wakes the writer: the points arrive without an explicit flush (the interval is an hour).
            for (int step = 1; step <= 60; step++) reporter.Update(Update(step, 1.0 / step));
            await WaitForAsync(() => Published(broadcaster) >= 50);
            for (int step = 61; step <= 120; step++) reporter.Update(Update(step, 1.0 / step));
            await WaitForAsync(() => Published(broadcaster) >= 100);
        }
        // Disposing flushes the rest; every point was published exactly once, in batches.
        Assert.Equal(Enumerable.Range(1, 120).Select(i => (long)i), broadcaster.Batches.SelectMany(b => b.Metrics).Select(p => p.Step));
        Assert.True(broadcaster.Batches.Count is >= 2 and < 120, $"{broadcaster.Batches.Count} batches");
        Assert.All(broadcaster.Batches, b => Assert.Equal(run.Id, b.RunId));
        await using var context = db.CreateDbContext();
        Assert.Equal(120, await context.MetricPoints.CountAsync(p => p.RunId == run.Id));
    }

    static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(condition(), "the reporter did not write in time");
    }

    static int Published(RecordingBroadcaster b) { lock (b.Batches) return b.Batches.Sum(x => x.Metrics.Count); }

    [Fact]
    public async Task EventsAreFlushedPromptlyAndRecordCheckpointsAndSamples()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var folder = Path.Combine(db.Directory, "run-artifacts");
        Directory.CreateDirectory(Path.Combine(folder, "checkpoints"));
        File.WriteAllBytes(Path.Combine(folder, "checkpoints", "step-10.safetensors"), new byte[1234]);
        var broadcaster = new RecordingBroadcaster();
        await using var reporter = new RunReporter(run.Id, db, broadcaster,
            new RunReporterOptions { FlushInterval = TimeSpan.FromHours(1), MaxBatch = 10_000 }, folder);
        reporter.Event(new TrainingEvent(TrainingEventKind.StageStarted, 1, 0, "stage 1: 256 px"));
        reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointWritten, 1, 10, "checkpoint",
            new Dictionary<string, string> { [TrainingEventData.Path] = "checkpoints/step-10.safetensors" }));
        reporter.Event(new TrainingEvent(TrainingEventKind.SampleReady, 1, 10, "sample",
            new Dictionary<string, string>
            {
                [TrainingEventData.Path] = "samples/step-10/p0-s1.png", [TrainingEventData.PromptIndex] = "0",
                [TrainingEventData.Seed] = "1", [TrainingEventData.Prompt] = "a red cube",
            }));
        // Events wake the writer on their own, without waiting for the (one hour) interval.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            await using var check = db.CreateDbContext();
            if (await check.RunEvents.CountAsync(e => e.RunId == run.Id) == 3) break;
            await Task.Delay(20);
        }
        await using var context = db.CreateDbContext();
        Assert.Equal(["StageStarted", "CheckpointWritten", "SampleReady"],
            await context.RunEvents.Where(e => e.RunId == run.Id).OrderBy(e => e.Id).Select(e => e.Kind).ToListAsync());
        var checkpoint = await context.Checkpoints.SingleAsync(c => c.RunId == run.Id);
        Assert.Equal(Path.Combine(folder, "checkpoints", "step-10.safetensors"), checkpoint.Path);
        Assert.Equal(1234, checkpoint.SizeBytes);
        Assert.Equal(10, checkpoint.Step);
        var sample = await context.Samples.SingleAsync(s => s.RunId == run.Id);
        Assert.Equal(("a red cube", 1L, 0), (sample.Prompt, sample.Seed, sample.PromptIndex));
        Assert.Equal(1, (await context.Runs.SingleAsync(r => r.Id == run.Id)).Stage);
    }

    [Fact]
    public async Task ACheckpointRemovedByKeepLeavesTheRunsCheckpointsWhetherItsLinesComeInOneBatchOrTwo()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var folder = Path.Combine(db.Directory, "run-artifacts");
        static Dictionary<string, string> At(string path) => new() { [TrainingEventData.Path] = path };
        await using (var reporter = new RunReporter(run.Id, db, new RecordingBroadcaster(),
            new RunReporterOptions { FlushInterval = TimeSpan.FromHours(1), MaxBatch = 10_000 }, folder))
        {
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointWritten, 1, 10, "checkpoint step-10", At("checkpoints/step-10")));
            await WaitForAsync(() => { using var c = db.CreateDbContext(); return c.Checkpoints.Any(x => x.RunId == run.Id); });
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointWritten, 1, 20, "checkpoint step-20", At("checkpoints/step-20")));
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointRemoved, 1, 20, "checkpoint step-10 removed", At("checkpoints/step-10")));
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointWritten, 1, 30, "checkpoint step-30", At("checkpoints/step-30")));
            reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointRemoved, 1, 30, "checkpoint step-20 removed", At("checkpoints/step-20")));
        }
        await using var context = db.CreateDbContext();
        Assert.Equal([30L], await context.Checkpoints.Where(c => c.RunId == run.Id).Select(c => c.Step).ToListAsync());
        Assert.Equal(2, await context.RunEvents.CountAsync(e => e.RunId == run.Id && e.Kind == "CheckpointRemoved")); // the log keeps saying so
    }

    [Fact]
    public async Task NonFiniteLossesAreStoredAsGapsNotRejected()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        await using (var reporter = new RunReporter(run.Id, db, new RecordingBroadcaster(), Manual))
        {
            reporter.Update(Update(1, double.NaN) with { GradientNorm = double.PositiveInfinity });
            reporter.Update(Update(2, 0.5));
        }
        await using var context = db.CreateDbContext();
        var points = await context.MetricPoints.OrderBy(p => p.Step).ToListAsync();
        Assert.Null(points[0].Loss);
        Assert.Null(points[0].GradientNorm);
        Assert.Equal(0.5, points[1].Loss);
    }

    [Fact]
    public async Task BackFillReturnsStepsAfterTheLastSeenAndMergingLiveBatchesLeavesNoGapOrDuplicate()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var data = new RunData(db);
        var feed = new RunFeed();
        var reporter = new RunReporter(run.Id, db, feed, Manual);
        for (int step = 1; step <= 30; step++) reporter.Update(Update(step, 1.0));
        await reporter.FlushAsync();

        // A page opens late: subscribe first, then back-fill; meanwhile the run goes on.
        var series = new RunSeries();
        var live = new List<RunBatch>();
        using var subscription = feed.Subscribe(run.Id, b => { lock (live) live.Add(b); });
        for (int step = 31; step <= 40; step++) reporter.Update(Update(step, 1.0));
        await reporter.FlushAsync();   // stored and published before the back-fill reads: arrives twice
        series.Merge(await data.MetricsSinceAsync(run.Id, series.LastStep));
        for (int step = 41; step <= 50; step++) reporter.Update(Update(step, 1.0));
        await reporter.DisposeAsync();
        lock (live) foreach (var b in live) series.Merge(b);

        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), series.Points.Select(p => p.Step));
        Assert.Equal(50, series.LastStep);
        // Only what comes after the last seen step is read again.
        Assert.Empty(await data.MetricsSinceAsync(run.Id, series.LastStep));
        Assert.Equal([21L, 22L], (await data.MetricsSinceAsync(run.Id, 20, limit: 2)).Select(p => p.Step));
    }

    [Fact]
    public void SeriesMergeReplacesAnExistingStepAndInsertsOutOfOrderOnes()
    {
        var series = new RunSeries();
        series.Merge([P(1, 1), P(3, 3), P(5, 5)]);
        series.Merge([P(4, 4), P(3, 30), P(6, 6), P(2, 2)]);
        Assert.Equal([1L, 2L, 3L, 4L, 5L, 6L], series.Points.Select(p => p.Step));
        Assert.Equal(30, series.Points[2].Loss);
        series.MergeEvents([E(1), E(3)]);
        series.MergeEvents([E(2), E(3)]);
        Assert.Equal([1L, 2L, 3L], series.Events.Select(e => e.Id));

        static MetricPoint P(long step, double loss) => new() { Step = step, Loss = loss };
        static RunEvent E(long id) => new() { Id = id, Kind = "Info", Message = $"line {id}" };
    }
}
