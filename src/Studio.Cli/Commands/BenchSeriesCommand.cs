using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Studio.Core.Charts;
using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Cli;

/// <summary>
/// `studio bench series [--points N]`: what opening a run page costs for a run of N stored metric points (a million by
/// default), in a temporary SQLite database: reading the whole series against the page's bounded overview
/// (<see cref="RunData.MetricsOverviewAsync"/> into a <see cref="RunSeries"/>), the managed memory each holds, and one
/// chart rebuild (loss series, EMA, LTTB to 2,000 points) over what is held, which the page repeats on every live batch.
/// </summary>
public static class BenchSeriesCommand
{
    public static Command Create()
    {
        var points = new Option<int>("--points") { Description = "metric points in the run", DefaultValueFactory = _ => 1_000_000 };
        var capacity = new Option<int>("--capacity") { Description = "points a run page holds", DefaultValueFactory = _ => RunSeries.DefaultCapacity };
        var command = new Command("series", "Time opening a run of N stored metric points: the whole series against the run page's bounded overview.") { points, capacity };
        command.SetAction(async (parse, cancel) =>
        {
            var (n, held) = (parse.GetValue(points), parse.GetValue(capacity));
            if (n < 1) throw new ArgumentException($"--points: {n} is not at least 1");
            if (held < 2) throw new ArgumentException($"--capacity: {held} is not at least 2");
            var folder = Directory.CreateTempSubdirectory("studio-bench-series-").FullName;
            try
            {
                var options = new DbContextOptionsBuilder<StudioDbContext>().UseSqlite($"Data Source={Path.Combine(folder, "bench.db")};Pooling=False").Options;
                var factory = new PooledDbContextFactory<StudioDbContext>(options);
                var clock = Stopwatch.StartNew();
                var runId = await FillAsync(factory, n, cancel);
                var fillSeconds = clock.Elapsed.TotalSeconds;
                var data = new RunData(factory);

                var (wholeMs, wholeBytes, wholeCount, wholeRedrawMs) = await MeasureAsync(async () =>
                {
                    var series = new RunSeries(int.MaxValue);
                    series.Merge(await data.MetricsSinceAsync(runId, 0, ct: cancel));
                    return series;
                });
                var (overviewMs, overviewBytes, overviewCount, overviewRedrawMs) = await MeasureAsync(async () =>
                {
                    var series = new RunSeries(held);
                    var (overview, stride) = await data.MetricsOverviewAsync(runId, held, cancel);
                    series.MergeOverview(overview, stride);
                    return series;
                });
                // The Runs table's loss line of this run: the database averages its points into LossOutline.Buckets spans.
                clock.Restart();
                var outlines = await data.LossOutlinesAsync([await data.RunAsync(runId, cancel) ?? throw new InvalidOperationException("the bench run is gone")], cancel);
                var outlineMs = clock.Elapsed.TotalMilliseconds;
                BenchLine.Print(new JsonObject
                {
                    ["bench"] = "run-series",
                    ["points"] = n,
                    ["capacity"] = held,
                    ["fill_s"] = BenchLine.Measured(fillSeconds),
                    ["whole_read_ms"] = BenchLine.Measured(wholeMs),
                    ["whole_points_held"] = wholeCount,
                    ["whole_managed_mb"] = BenchLine.Measured(wholeBytes / 1048576.0),
                    ["whole_redraw_ms"] = BenchLine.Measured(wholeRedrawMs),
                    ["overview_read_ms"] = BenchLine.Measured(overviewMs),
                    ["overview_points_held"] = overviewCount,
                    ["overview_managed_mb"] = BenchLine.Measured(overviewBytes / 1048576.0),
                    ["overview_redraw_ms"] = BenchLine.Measured(overviewRedrawMs),
                    ["outline_read_ms"] = BenchLine.Measured(outlineMs),
                    ["outline_points"] = outlines.Values.Sum(o => o.Points.Count),
                });
                return 0;
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        });
        return command;
    }

    /// <summary>One run of n points with the trainer's breakdowns (5 sigma buckets, 5 prompt categories), inserted in SQL.</summary>
    static async Task<int> FillAsync(IDbContextFactory<StudioDbContext> factory, int n, CancellationToken cancel)
    {
        await using var db = await factory.CreateDbContextAsync(cancel);
        await db.Database.EnsureCreatedAsync(cancel);
        var run = new Run { Name = "bench", State = RunState.Completed, Step = n, TotalSteps = n };
        db.Runs.Add(run);
        await db.SaveChangesAsync(cancel);
        const string buckets = """{"0.0-0.2":0.11,"0.2-0.4":0.12,"0.4-0.6":0.13,"0.6-0.8":0.14,"0.8-1.0":0.15}""";
        const string categories = """{"image-quality":0.1,"semantics/colour":0.2,"semantics/spatial":0.3,"semantics/numeracy":0.4,"text":0.5}""";
        await db.Database.ExecuteSqlRawAsync("""
            WITH RECURSIVE steps(step) AS (SELECT 1 UNION ALL SELECT step + 1 FROM steps WHERE step < {0})
            INSERT INTO MetricPoints (RunId, Stage, Step, Time, ElapsedSeconds, Loss, LearningRate, GradientNorm, UpdatesPerSecond,
                                      PromptsPerSecond, ProcessMemoryBytes, LossBySigmaBucketJson, LossByCategoryJson)
            SELECT {1}, 0, step, '2026-01-01 00:00:00', step * 0.5, 1.0 / step, 0.0001, 1.0, 2.0, 16.0, 1073741824, {2}, {3}
            FROM steps
            """, [n, run.Id, buckets, categories], cancel);
        return run.Id;
    }

    /// <summary>Read time, managed memory held, points held, and one loss-chart rebuild over the held points.</summary>
    static async Task<(double ReadMs, long Bytes, int Count, double RedrawMs)> MeasureAsync(Func<Task<RunSeries>> open)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        var series = await open();
        var readMs = clock.Elapsed.TotalMilliseconds;
        var bytes = GC.GetTotalMemory(forceFullCollection: true) - before;
        clock.Restart();
        var loss = series.Points.Select(p => new ChartPoint(p.Step, p.Loss ?? double.NaN)).ToArray();
        _ = SeriesMath.Lttb(SeriesMath.Ema(loss, 0.9), 2000);
        var redrawMs = clock.Elapsed.TotalMilliseconds;
        var count = series.Points.Count;
        GC.KeepAlive(series);
        return (readMs, bytes, count, redrawMs);
    }
}
