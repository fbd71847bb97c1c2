using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Ml.Distillation;

namespace Studio.Worker.Tests;

/// <summary>The studio's database code on a real PostgreSQL server: migrations, the idempotent metric upserts, and the loss outline's aggregate.</summary>
public class PostgresStorageTests
{
    sealed class NoBroadcast : IRunBroadcaster { public Task PublishAsync(RunBatch batch, CancellationToken ct = default) => Task.CompletedTask; }

    static UpdateMetrics Update(long step, double loss) => new()
    {
        Stage = 0, Step = step, TotalSteps = 5, Loss = loss, LearningRate = 1e-4, GradientNorm = 0.5,
        Time = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddSeconds(step),
    };

    [Fact]
    public async Task MigrationsBuildTheCurrentModelAndMetricUpsertsNeverDuplicate()
    {
        await using var database = await TestServices.CreateDatabaseAsync();
        var factory = database.Factory();
        await using (var db = await factory.CreateDbContextAsync())
        {
            Assert.NotEmpty(db.Database.GetMigrations());
            await db.Database.MigrateAsync();
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
            Assert.False(db.Database.HasPendingModelChanges(),
                "the model has changes that no PostgreSQL migration covers: add one in migrations/Postgres (docs/ARCHITECTURE.md, 'Migrations')");
            db.Runs.Add(new Run { Name = "probe", State = RunState.Running, StartedAt = DateTime.UtcNow });
            await db.SaveChangesAsync();
        }
        int runId;
        await using (var db = await factory.CreateDbContextAsync()) runId = (await db.Runs.SingleAsync()).Id;

        var manual = new RunReporterOptions { FlushInterval = TimeSpan.FromHours(1), MaxBatch = 10_000 };
        await using (var reporter = new RunReporter(runId, factory, new NoBroadcast(), manual))
        {
            for (int step = 1; step <= 5; step++) reporter.Update(Update(step, 1.0 / step));
            await reporter.FlushAsync();
            // A re-delivered or re-computed step replaces its point.
            for (int step = 3; step <= 5; step++) reporter.Update(Update(step, 10.0 + step));
            reporter.Update(Update(5, double.NaN));
            await reporter.FlushAsync();
        }
        await using (var db = await factory.CreateDbContextAsync())
        {
            var points = await db.MetricPoints.Where(p => p.RunId == runId).OrderBy(p => p.Step).ToListAsync();
            Assert.Equal([1L, 2, 3, 4, 5], points.Select(p => p.Step));
            Assert.Equal([1.0, 0.5, 13.0, 14.0, null], points.Select(p => p.Loss));
            Assert.Equal(Update(2, 0).Time, points[1].Time);
            Assert.Equal(DateTimeKind.Utc, points[1].Time.Kind);
            Assert.Equal(5, (await db.Runs.SingleAsync()).Step);
        }

        // The Runs table's loss outline is aggregated by PostgreSQL too (5 updates: a span per step; step 5's NaN left out).
        var data = new RunData(factory);
        var outline = Assert.Single(await data.LossOutlinesAsync(await data.RunsAsync())).Value;
        Assert.Equal(1, outline.Width);
        Assert.Equal([new(1, 1.0), new(2, 0.5), new(3, 13.0), new Studio.Core.Charts.ChartPoint(4, 14.0)], outline.Points);
    }
}
