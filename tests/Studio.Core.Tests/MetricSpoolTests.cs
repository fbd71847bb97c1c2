using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

public class MetricSpoolTests
{
    sealed class NoBroadcast : IRunBroadcaster { public Task PublishAsync(RunBatch batch, CancellationToken ct = default) => Task.CompletedTask; }

    /// <summary>The database behind a switch: while <see cref="Reachable"/> is false every context fails to open, like a lost network.</summary>
    sealed class FlakyDatabase(TestDatabase inner) : IDbContextFactory<StudioDbContext>
    {
        public volatile bool Reachable = true;
        public StudioDbContext CreateDbContext() =>
            Reachable ? inner.CreateDbContext() : throw new InvalidOperationException("database unreachable");
    }

    static UpdateMetrics Update(long step) => new() { Stage = 0, Step = step, TotalSteps = 20, Loss = 1.0 / step, LearningRate = 1e-4, GradientNorm = 0.5 };
    static readonly RunReporterOptions Manual = new() { FlushInterval = TimeSpan.FromHours(1), MaxBatch = 10_000 };

    [Fact]
    public async Task AReporterThatCannotReachTheDatabaseKeepsItsMetricsInTheSpoolAndTheyAreDeliveredLaterOnce()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var flaky = new FlakyDatabase(db);
        var spoolDir = Path.Combine(db.Directory, "spool");
        var spool = new MetricSpool(spoolDir, run.Id);
        var reporter = new RunReporter(run.Id, flaky, new NoBroadcast(), Manual, db.Directory, spool);
        for (int step = 1; step <= 8; step++) reporter.Update(Update(step));
        Assert.True(new FileInfo(spool.Path).Length > 0);
        await reporter.FlushAsync();                    // delivered: steps 1-8
        Assert.Equal(0, new FileInfo(spool.Path).Length);   // all delivered: the spool starts afresh
        flaky.Reachable = false;
        for (int step = 9; step <= 20; step++) reporter.Update(Update(step));
        reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointWritten, 0, 20, "checkpoint step-20",
            new Dictionary<string, string> { [TrainingEventData.Path] = "checkpoints/step-20" }));
        await Assert.ThrowsAsync<InvalidOperationException>(() => reporter.FlushAsync());
        await reporter.DisposeAsync();                  // the run ends while the database is still away
        Assert.NotNull(reporter.UndeliveredSpool);
        Assert.Single(Directory.GetFiles(spoolDir));

        await using (var context = db.CreateDbContext())
            Assert.Equal(8, await context.MetricPoints.CountAsync(p => p.RunId == run.Id));

        flaky.Reachable = true;
        Assert.Equal(13, await MetricSpool.DeliverPendingAsync(spoolDir, flaky));   // 12 points and the log line, not 1-8 again
        Assert.Empty(Directory.GetFiles(spoolDir));
        Assert.Equal(0, await MetricSpool.DeliverPendingAsync(spoolDir, flaky));
        await using (var context = db.CreateDbContext())
        {
            Assert.Equal(Enumerable.Range(1, 20).Select(s => (long)s),
                await context.MetricPoints.Where(p => p.RunId == run.Id).OrderBy(p => p.Step).Select(p => p.Step).ToListAsync());
            Assert.Single(await context.RunEvents.Where(e => e.RunId == run.Id && e.Kind == "CheckpointWritten").ToListAsync());
            var checkpoint = await context.Checkpoints.SingleAsync(c => c.RunId == run.Id);
            Assert.Equal(Path.Combine(db.Directory, "checkpoints", "step-20"), checkpoint.Path);
        }
    }

    [Fact]
    public async Task ASpoolOfAKilledReporterIsDeliveredWithoutDuplicatesOrOverwritingNewerPoints()
    {
        var db = await TestDatabase.CreateAsync();
        var run = await db.AddRunAsync();
        var spoolDir = Path.Combine(db.Directory, "spool");
        // A reporter died after the database stored steps 1-5 and a log line but before it could mark them delivered
        // in its spool, which also holds steps 6-7 (never stored).
        var spool = new MetricSpool(spoolDir, run.Id);
        await using (var stored = new RunReporter(run.Id, db, new NoBroadcast(), Manual))
        {
            var time = DateTime.UtcNow;
            for (int step = 1; step <= 5; step++)
            {
                stored.Update(Update(step) with { Time = time });
                spool.Append(metric: new MetricPoint { RunId = run.Id, Step = step, Time = time, Loss = 1.0 / step });
            }
            var line = new TrainingEvent(TrainingEventKind.Info, 0, 5, "half way") { Time = time };
            stored.Event(line);
            spool.Append(e: new RunEvent { RunId = run.Id, Kind = "Info", Step = 5, Message = "half way", Time = time });
        }
        for (int step = 6; step <= 7; step++)
            spool.Append(metric: new MetricPoint { RunId = run.Id, Step = step, Time = DateTime.UtcNow, Loss = 1.0 / step });
        // While the file is held (its reporter lives), nobody delivers it.
        Assert.Equal(0, await MetricSpool.DeliverPendingAsync(spoolDir, db));
        spool.Dispose();
        Assert.True(File.Exists(spool.Path));
        // Meanwhile the run resumed elsewhere and re-reported step 7 with a newer value.
        await using (var other = new RunReporter(run.Id, db, new NoBroadcast(), Manual))
            other.Update(Update(7) with { Loss = 42 });

        Assert.Equal(8, await MetricSpool.DeliverPendingAsync(spoolDir, db));
        await using var context = db.CreateDbContext();
        var points = await context.MetricPoints.Where(p => p.RunId == run.Id).OrderBy(p => p.Step).ToListAsync();
        Assert.Equal(Enumerable.Range(1, 7).Select(s => (long)s), points.Select(p => p.Step));
        Assert.Equal(42, points[^1].Loss);
        Assert.Single(await context.RunEvents.Where(e => e.RunId == run.Id && e.Message == "half way").ToListAsync());
    }
}
