using Bunit;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Core.Queue;
using Studio.Web.Auth;
using Studio.Web.Components.Pages;

namespace Studio.Web.Tests;

/// <summary>The first page: active runs with live progress, the recently finished ones, and what to do in an empty studio.</summary>
public class HomePageTests
{
    static Task<(BunitContext Context, RunFeed Feed)> ContextAsync(params Run[] runs) => ContextAsync(researcher: true, runs);

    static async Task<(BunitContext Context, RunFeed Feed)> ContextAsync(bool researcher, params Run[] runs)
    {
        var data = Directory.CreateTempSubdirectory("studio-web-home-").FullName;
        var db = TestStudioDb.Create(data);
        await using (var seed = db.CreateDbContext())
        {
            seed.Runs.AddRange(runs);
            await seed.SaveChangesAsync();
        }
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var pulse = new PulseFeed();
        await pulse.PublishAsync(new StudioPulse(new StudioCounts(new Dictionary<RunState, int>(), 1, 0, 0), [], [], DateTime.UtcNow));
        ctx.Services.AddSingleton(pulse);
        ctx.Services.AddSingleton(new QueueStatus(new SQLiteStorage(Path.Combine(data, "hangfire.db")), db));
        ctx.Services.AddSingleton(new RunData(db));
        ctx.Services.AddSingleton<IDbContextFactory<StudioDbContext>>(db);
        var feed = new RunFeed();
        ctx.Services.AddSingleton(feed);
        var auth = ctx.AddAuthorization();
        auth.SetAuthorized(researcher ? "rhea" : "vera");
        if (researcher) auth.SetPolicies(StudioRoles.CanChange);
        return (ctx, feed);
    }

    /// <summary>A studio's counts are written as every other number is, with thousands separators (it said "2005").</summary>
    [Fact]
    public async Task TheCountsHaveThousandsSeparators()
    {
        var (ctx, _) = await ContextAsync();
        await using var _ = ctx;
        await ctx.Services.GetRequiredService<PulseFeed>().PublishAsync(new StudioPulse(
            new StudioCounts(new Dictionary<RunState, int> { [RunState.Completed] = 2005, [RunState.Failed] = 3 }, 2, 1250, 0), [], [], DateTime.UtcNow));
        var cut = ctx.Render<Home>();
        cut.WaitForAssertion(() => Assert.Equal("2,005", cut.Find("[data-testid=count-runs-completed]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Equal("3", cut.Find("[data-testid=count-runs-failed]").TextContent);
        Assert.Equal("1,250", cut.Find("[data-testid=count-queue]").TextContent);
    }

    /// <summary>Each count opens the Runs page listing those runs; the stopping ones are listed with the running.</summary>
    [Fact]
    public async Task EachCountLinksToTheRunsInThatState()
    {
        var (ctx, _) = await ContextAsync();
        await using var _ = ctx;
        await ctx.Services.GetRequiredService<PulseFeed>().PublishAsync(new StudioPulse(new StudioCounts(new Dictionary<RunState, int>
            { [RunState.Queued] = 4, [RunState.Stopping] = 1, [RunState.Completed] = 7, [RunState.Failed] = 3 }, 2, 4, 0), [], [], DateTime.UtcNow));
        var cut = ctx.Render<Home>();
        cut.WaitForAssertion(() => Assert.Equal("7", cut.Find("[data-testid=count-runs-completed]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Equal(["/runs?state=queued", "/runs?state=running", "/runs?state=completed", "/runs?state=failed"],
            new[] { "queued", "stopping", "completed", "failed" }.Select(s => cut.Find($"a[data-testid=count-runs-{s}]").GetAttribute("href")));
    }

    [Fact]
    public async Task AViewerIsNotOfferedNewRun()
    {
        var (researcherContext, _) = await ContextAsync();
        await using (researcherContext)
        {
            var researcher = researcherContext.Render<Home>();
            researcher.WaitForAssertion(() => Assert.Single(researcher.FindAll("a[href='/runs/new']")), TimeSpan.FromSeconds(15));
        }
        var (viewerContext, _) = await ContextAsync(researcher: false);
        await using var _ = viewerContext;
        var viewer = viewerContext.Render<Home>();
        viewer.WaitForAssertion(() => Assert.Contains("Toy: CPU in 15 minutes", viewer.Find("[data-testid=home-first-run]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Empty(viewer.FindAll("a[href='/runs/new']"));
    }

    [Fact]
    public async Task AnEmptyStudioSaysHowToStart()
    {
        var (ctx, _) = await ContextAsync();
        await using var _ = ctx;
        var cut = ctx.Render<Home>();
        cut.WaitForAssertion(() => Assert.Contains("Toy: CPU in 15 minutes", cut.Find("[data-testid=home-first-run]").TextContent), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task AQueuedRunOnAQueueNoOnlineWorkerServesSaysItWaits()
    {
        var (ctx, _) = await ContextAsync(
            new Run { Name = "on gpu", State = RunState.Queued, Queue = "gpu-80g", ConfigYaml = "", TotalSteps = 100 },
            new Run { Name = "on default", State = RunState.Queued, Queue = "default", ConfigYaml = "", TotalSteps = 100 });
        await using var _ = ctx;
        var pulse = ctx.Services.GetRequiredService<PulseFeed>();
        var now = DateTime.UtcNow;
        StudioPulse With(bool gpuOnline) => new(new StudioCounts(new Dictionary<RunState, int>(), 2, 2, 0),
            [new WorkerInfo("web:vm:1", ["default", "cpu"], 1, now, now, true), new WorkerInfo("gpu-1", ["gpu-80g"], 1, now, now, gpuOnline)], [], now);
        var cut = ctx.Render<Home>();
        await pulse.PublishAsync(With(gpuOnline: false));
        cut.WaitForAssertion(() => Assert.Equal("waiting: no online worker serves the queue 'gpu-80g'",
            Assert.Single(cut.FindAll("[data-testid=home-run-unserved]")).TextContent.Trim()), TimeSpan.FromSeconds(15));
        Assert.Contains("1 · on gpu", cut.Find("[data-testid=home-run-unserved]").Closest("[data-testid=home-active-run]")!.TextContent);

        await pulse.PublishAsync(With(gpuOnline: true));
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=home-run-unserved]")), TimeSpan.FromSeconds(15));
    }

    /// <summary>A sweep of 1,000 queued runs made Home 1,000 cards (a 2 MB page, 5-11 s to open): ten, the training ones first, then a link.</summary>
    [Fact]
    public async Task ALongQueueShowsTheTrainingRunsFirstAndTenCardsInAll()
    {
        var runs = Enumerable.Range(1, 14).Select(i => new Run { Name = $"sweep {i}", State = RunState.Queued, ConfigYaml = "", TotalSteps = 100 })
            .Append(new Run { Name = "training", State = RunState.Running, ConfigYaml = "", Step = 10, TotalSteps = 100 }).ToArray();
        var (ctx, _) = await ContextAsync(runs);
        await using var _ = ctx;
        var cut = ctx.Render<Home>();
        cut.WaitForAssertion(() => Assert.Equal(10, cut.FindAll("[data-testid=home-active-run]").Count), TimeSpan.FromSeconds(15));
        Assert.Equal(["15 · training", "1 · sweep 1", "2 · sweep 2", "9 · sweep 9"],
            cut.FindAll("[data-testid=home-active-run] a").Select(a => a.TextContent.Trim()).Where((_, i) => i is 0 or 1 or 2 or 9));
        Assert.Equal("and 5 more (14 queued in all: Queue)", System.Text.RegularExpressions.Regex.Replace(cut.Find("[data-testid=home-active-more]").TextContent.Trim(), @"\s+", " "));
        Assert.Equal(["/runs?state=active", "/queue"], cut.FindAll("[data-testid=home-active-more] a").Select(a => a.GetAttribute("href")));
    }

    [Fact]
    public async Task ActiveRunsFollowTheirStatusAndMoveToRecentlyFinishedWhenTheyEnd()
    {
        var (ctx, feed) = await ContextAsync(
            new Run { Name = "older", State = RunState.Completed, ConfigYaml = "", Step = 400, TotalSteps = 400, FinishedAt = DateTime.UtcNow.AddHours(-1) },
            new Run { Name = "training", State = RunState.Running, ConfigYaml = "", Step = 10, TotalSteps = 100 });
        await using var _ = ctx;
        var cut = ctx.Render<Home>();
        cut.WaitForAssertion(() => Assert.Contains("2 · training", cut.Find("[data-testid=home-active-run]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Contains("step 10 / 100", cut.Find("[data-testid=home-active-run]").TextContent);
        Assert.Contains("1 · older", cut.Find("[data-testid=home-recent]").TextContent);

        await feed.PublishAsync(RunBatch.OfStatus(new RunStatus(2, RunState.Running, 0, null, 60, 100, 0.05, 9.5, 4.2, "web:vm:1", null)));
        cut.WaitForAssertion(() => Assert.Contains("step 60 / 100", cut.Find("[data-testid=home-active-run]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Contains("ETA", cut.Find("[data-testid=home-active-run]").TextContent);

        await feed.PublishAsync(RunBatch.OfStatus(new RunStatus(2, RunState.Completed, 0, null, 100, 100, 0.04, 9.5, null, "web:vm:1", null)));
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=home-active-run]")), TimeSpan.FromSeconds(15));
        Assert.Single(cut.FindAll("[data-testid=home-no-active]"));
        var recent = cut.FindAll("[data-testid=home-recent] tr").Select(r => r.TextContent).ToList();
        Assert.Contains("2 · training", recent[0]); // the newest end first
        Assert.Contains("1 · older", recent[1]);
    }

    [Fact]
    public async Task EachRunShowsItsLossLineAndAnActiveRunsGrowsWithItsPushedPoints()
    {
        var (ctx, feed) = await ContextAsync(
            new Run { Name = "older", State = RunState.Completed, ConfigYaml = "", Step = 20, TotalSteps = 400, FinishedAt = DateTime.UtcNow.AddHours(-1) },
            new Run { Name = "training", State = RunState.Running, ConfigYaml = "", Step = 0, TotalSteps = 100 });
        await using var _ = ctx;
        // The finished run: 400 updates in spans of 10; its first 20 steps stored, 1.0 then 0.5.
        await using (var db = await ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContextAsync())
        {
            db.MetricPoints.AddRange(Enumerable.Range(1, 20).Select(step => new MetricPoint { RunId = 1, Step = step, Loss = step <= 10 ? 1.0 : 0.5 }));
            await db.SaveChangesAsync();
        }
        var cut = ctx.Render<Home>();
        cut.WaitForAssertion(() => Assert.Contains("2 · training", cut.Find("[data-testid=home-active-run]").TextContent), TimeSpan.FromSeconds(15));
        var older = cut.Find("[data-testid=home-recent] [data-testid=run-loss-outline]");
        Assert.Equal("Training loss, the mean of every 10 updates: 1 at step 10 → 0.5 at step 20 (log scale)", older.QuerySelector("title")!.TextContent);
        Assert.Empty(cut.FindAll("[data-testid=home-active-run] [data-testid=run-loss-outline]"));

        // The active run: 100 updates in spans of 3.
        await feed.PublishAsync(new RunBatch(2, [.. new[] { 0.3, 0.2, 0.1 }.Select((loss, i) => new MetricPoint { RunId = 2, Step = i + 1, Loss = loss })], [], [], null));
        cut.WaitForAssertion(() => Assert.Equal("1", cut.Find("[data-testid=home-active-run] [data-testid=run-loss-outline]").GetAttribute("data-points")), TimeSpan.FromSeconds(15));
        await feed.PublishAsync(new RunBatch(2, [new MetricPoint { RunId = 2, Step = 4, Loss = 0.4 }], [], [], null));
        cut.WaitForAssertion(() => Assert.Equal("Training loss, the mean of every 3 updates: 0.2 at step 3 → 0.4 at step 4 (log scale)",
            cut.Find("[data-testid=home-active-run] [data-testid=run-loss-outline] title").TextContent), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task GroupsAreListedNewestFirstWithTheirStatesAndACompareLink()
    {
        var (ctx, _) = await ContextAsync(
            new Run { Name = "alone", State = RunState.Completed, ConfigYaml = "" },
            new Run { Name = "lr · 1e-4", State = RunState.Completed, ConfigYaml = "", Group = "lr" },
            new Run { Name = "lr · 3e-4", State = RunState.Failed, ConfigYaml = "", Group = "lr" },
            new Run { Name = "size · small", State = RunState.Running, ConfigYaml = "", Group = "size x" });
        await using var _ = ctx;
        // Run 3 (lr · 3e-4, failed at its second validation) had the lower held-out loss: 0.1 against run 2's 0.2.
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            db.ValidationPoints.AddRange(
                new ValidationPoint { RunId = 2, Step = 10, Category = "text", VisionLoss = 0.2 },
                new ValidationPoint { RunId = 3, Step = 10, Category = "text", VisionLoss = 0.3 },
                new ValidationPoint { RunId = 3, Step = 20, Category = "text", VisionLoss = 0.1 });
            // "size x" is a Bayesian sweep of 6 runs: its other 5 are yet to be proposed.
            db.SweepPlans.Add(new SweepPlan { Group = "size x", ConfigYaml = "", AxesJson = "[]", TotalRuns = 6, AtOnce = 1, MadeRuns = 1 });
            await db.SaveChangesAsync();
        }
        var cut = ctx.Render<Home>();
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=home-groups] tr").Count), TimeSpan.FromSeconds(15));
        var rows = cut.FindAll("[data-testid=home-groups] tr").Select(r => r.TextContent).ToList();
        Assert.Contains("size x", rows[0]);
        Assert.Contains("1 of 6 runs (Bayesian search): 1 running", rows[0]);
        Assert.Contains("2 runs: 1 completed, 1 failed", rows[1]);
        var links = cut.FindAll("[data-testid=home-groups] a").Select(a => a.GetAttribute("href")).ToList();
        Assert.Equal(["/runs?group=size%20x", "/compare?view=settings&group=size%20x", "/runs?group=lr", "/runs/3", "/compare?view=settings&group=lr"], links);
        Assert.Equal("best: lr · 3e-4 · 0.1", cut.FindAll("[data-testid=home-group-best]")[1].TextContent.Trim());
        Assert.Equal("", cut.FindAll("[data-testid=home-group-best]")[0].TextContent.Trim()); // no validation yet
    }
}
