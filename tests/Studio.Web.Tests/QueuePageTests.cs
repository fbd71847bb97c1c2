using Bunit;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Evaluations;
using Studio.Core.Generations;
using Studio.Core.Live;
using Studio.Core.Queue;
using Studio.Core.Runs;
using Studio.Web.Auth;
using Studio.Web.Components.Pages;

namespace Studio.Web.Tests;

/// <summary>The Queue page: every run, generation and evaluation queued or running, live from the pulse, cancellable by researchers.</summary>
public class QueuePageTests
{
    /// <summary>The Queue page's services over <paramref name="data"/>'s database, signed in as a researcher or a viewer.</summary>
    static (BunitContext Context, PulseFeed Pulse) PageContext(string data, bool researcher, RecordingJobs? jobs = null)
    {
        var db = TestStudioDb.Create(data);
        var options = new StudioOptions { DataDirectory = data };
        jobs ??= new RecordingJobs();
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        ctx.Services.AddSingleton(new QueueStatus(new SQLiteStorage(Path.Combine(data, "hangfire.db")), db));
        var pulse = new PulseFeed();
        ctx.Services.AddSingleton(pulse);
        ctx.Services.AddSingleton(new RunService(db, jobs, new NoBroadcast(), options));
        ctx.Services.AddSingleton(new GenerationService(db, jobs, new GenerationFeed()));
        ctx.Services.AddSingleton(new EvaluationService(db, jobs, new EvaluationFeed(), options));
        var auth = ctx.AddAuthorization().SetAuthorized(researcher ? "rhea" : "vera");
        if (researcher) auth.SetPolicies(StudioRoles.CanChange);
        return (ctx, pulse);
    }

    [Fact]
    public async Task QueuedAndRunningWorkIsListedRunningFirstAndAQueuedGenerationIsCancelled()
    {
        var data = Directory.CreateTempSubdirectory("studio-web-queue-").FullName;
        var db = TestStudioDb.Create(data);
        var now = DateTime.UtcNow;
        await using (var seed = db.CreateDbContext())
        {
            seed.Runs.AddRange(
                new Run { Name = "waiting run", State = RunState.Queued, Queue = "gpu", ConfigYaml = "", CreatedAt = now.AddMinutes(-3) },
                new Run { Name = "training run", State = RunState.Running, Queue = "default", ConfigYaml = "", StartedAt = now.AddMinutes(-10), Worker = "gpu-1", Step = 50, TotalSteps = 100 },
                new Run { Name = "done run", State = RunState.Completed, ConfigYaml = "" });
            seed.Generations.Add(new Generation { Prompt = "a red cube", State = GenerationState.Queued, CreatedAt = now.AddMinutes(-5), HangfireJobId = "7" });
            await seed.SaveChangesAsync();
        }
        var jobs = new RecordingJobs();
        var (ctx, pulse) = PageContext(data, researcher: true, jobs);
        await using var _ = ctx;

        var cut = ctx.Render<QueuePage>();
        string[] Items() => cut.FindAll("[data-testid=work-item]").Select(i => i.TextContent.Trim()).ToArray();
        cut.WaitForAssertion(() => Assert.Equal(3, Items().Length), TimeSpan.FromSeconds(15));
        // Running first, then the longest waiting: the generation (5 min) before the run (3 min); the completed run is not listed.
        var items = Items();
        Assert.True(items[0].Contains("run 2") && items[0].Contains("training run"), items[0]);
        Assert.True(items[1].Contains("generation 1") && items[1].Contains("a red cube"), items[1]);
        Assert.True(items[2].Contains("run 1") && items[2].Contains("waiting run"), items[2]);
        // Running work has a bar of its fraction done; waiting work says it waits (no moving bar that reads as progress).
        var progress = cut.FindAll("[data-testid=work-progress]");
        Assert.NotNull(progress[0].QuerySelector(".mud-progress-linear"));
        Assert.Equal(["waiting", "waiting"], progress.Skip(1).Select(p => p.TextContent.Trim()));
        Assert.Empty(cut.FindAll(".mud-progress-indeterminate"));

        cut.FindAll("[data-testid=work-cancel]")[1].Click();
        cut.WaitForAssertion(() => Assert.Equal(2, Items().Length), TimeSpan.FromSeconds(15));
        Assert.DoesNotContain(Items(), i => i.Contains("a red cube"));
        Assert.Contains(("7", "Deleted"), jobs.Changed);

        // Live: the next pulse carries the work as the tailer reads it (here: one evaluation left).
        await pulse.PublishAsync(new StudioPulse(new StudioCounts(new Dictionary<RunState, int>(), 1, 0, 0), [], [], DateTime.UtcNow,
            [new ActiveWork(WorkKind.Evaluation, 4, "teacher (heldout · 10/category)", "interactive_evaluations", "running", DateTime.UtcNow, "web:vm:1", 0.5, "/compare")]));
        cut.WaitForAssertion(() => Assert.Contains("evaluation 4", Assert.Single(Items())), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task QueuedWorkOnAQueueNoOnlineWorkerServesIsMarkedAndTheQueuesSayWhoServesThem()
    {
        var (ctx, pulse) = PageContext(Directory.CreateTempSubdirectory("studio-web-queue-").FullName, researcher: false);
        await using var _ = ctx;
        var cut = ctx.Render<QueuePage>();

        var now = DateTime.UtcNow;
        WorkerInfo Server(string name, bool online, params string[] queues) => new(name, queues, 1, now, now, online);
        ActiveWork Waiting(int id, string queue) => new(WorkKind.Run, id, $"run on {queue}", queue, "queued", now, null, 0, $"/runs/{id}");
        await pulse.PublishAsync(new StudioPulse(new StudioCounts(new Dictionary<RunState, int>(), 2, 2, 0),
            [Server("web:vm:1", true, "default", "cpu"), Server("gpu-1", false, "gpu-80g")], // the only gpu-80g server is offline
            [new QueueInfo("default", 1, 0), new QueueInfo("gpu-80g", 1, 0)], now, [Waiting(1, "default"), Waiting(2, "gpu-80g")]));

        // Every queue with jobs, and those an online worker serves with none waiting (cpu): what each can take on.
        cut.WaitForAssertion(() => Assert.Equal(["cpu 0 0 1 online server", "default 1 0 1 online server", "gpu-80g 1 0 no online worker"],
            cut.FindAll("[data-testid=queues-table] tbody tr").Select(r => string.Join(" ", r.QuerySelectorAll("td").Select(c => c.TextContent.Trim())))), TimeSpan.FromSeconds(15));
        // Only the run on gpu-80g is marked, and its mark says why it waits and which queues are served.
        var marked = Assert.Single(cut.FindAll("[data-testid=work-unserved]"));
        Assert.Contains("run on gpu-80g", marked.Closest("tr")!.TextContent);
        Assert.Equal("No online worker takes jobs from the queue 'gpu-80g', so they wait until one does: start a worker whose Studio:Queues " +
            "includes gpu-80g (docs/MANY-MACHINES.md), or cancel and queue again on a served queue (cpu, default).",
            WorkerInfo.Unserved("gpu-80g", [Server("web:vm:1", true, "interactive", "interactive_evaluations", "default", "cpu"), Server("gpu-1", false, "gpu-80g")]));

        // The GPU worker comes online: nothing is marked any more.
        await pulse.PublishAsync(new StudioPulse(new StudioCounts(new Dictionary<RunState, int>(), 2, 2, 0),
            [Server("web:vm:1", true, "default", "cpu"), Server("gpu-1", true, "gpu-80g")],
            [new QueueInfo("default", 1, 0), new QueueInfo("gpu-80g", 1, 0)], now, [Waiting(1, "default"), Waiting(2, "gpu-80g")]));
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=work-unserved]")), TimeSpan.FromSeconds(15));
        Assert.Equal(["1 online server", "1 online server", "1 online server"], cut.FindAll("[data-testid=queue-served]").Select(c => c.TextContent.Trim()));
    }

    /// <summary>A sweep of 1,200 queued runs came as 1,200 rows drawn again at every pulse (10 s to open): 50 a page now, with how many run and wait.</summary>
    [Fact]
    public async Task ALongQueueComesFiftyAPageWithHowManyRunAndWait()
    {
        var (ctx, pulse) = PageContext(Directory.CreateTempSubdirectory("studio-web-queue-").FullName, researcher: false);
        await using var _ = ctx;
        var cut = ctx.Render<QueuePage>();

        var now = DateTime.UtcNow;
        var work = Enumerable.Range(1, 1200).Select(i => new ActiveWork(WorkKind.Run, i, $"sweep run {i}", "default", i <= 2 ? "running" : "queued", now, null, 0, $"/runs/{i}")).ToList();
        await pulse.PublishAsync(new StudioPulse(new StudioCounts(new Dictionary<RunState, int>(), 1, 1198, 2), [], [], now, work));
        cut.WaitForAssertion(() => Assert.Equal("2 running, 1,198 waiting", cut.Find("[data-testid=work-summary]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Equal(50, cut.FindAll("[data-testid=work-item]").Count);
        Assert.Equal("1-50 of 1,200", System.Text.RegularExpressions.Regex.Match(cut.Find("[data-testid=work-pager]").TextContent, @"\d+-\d+ of [\d,]+").Value);
    }
}
