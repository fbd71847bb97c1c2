using Bunit;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Web.Auth;
using Studio.Web.Components.Pages;
using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

/// <summary>The Runs page with many runs: search by name or id, a state filter, and ticked runs opened together in Compare.</summary>
public class RunsPageTests
{
    /// <param name="readsThrough">Put between the page's reads (<see cref="RunData"/>) and the database.</param>
    static async Task<BunitContext> PageContextAsync(Microsoft.EntityFrameworkCore.Diagnostics.IInterceptor? readsThrough = null)
    {
        var data = Directory.CreateTempSubdirectory("studio-web-runs-").FullName;
        var db = TestStudioDb.Create(data);
        await using (var seed = db.CreateDbContext())
        {
            seed.Runs.AddRange(
                new Run { Name = "toy-study-small", State = RunState.Completed, ConfigYaml = "" },
                new Run { Name = "Toy-Study-Base", State = RunState.Running, ConfigYaml = "" },
                new Run { Name = "paper t5-base", State = RunState.Failed, ConfigYaml = "", Notes = "The baseline of the SWEEP." },
                new Run { Name = "run 12 of the sweep", State = RunState.Cancelled, ConfigYaml = "" },
                new Run { Name = "lr · lr=1e-4", State = RunState.Completed, ConfigYaml = "", Group = "sweep-a", Step = 60, TotalSteps = 300 },
                new Run { Name = "lr · lr=3e-4", State = RunState.Failed, ConfigYaml = "", Group = "sweep-a" });
            await seed.SaveChangesAsync();
            // Run 5 was pruned by its group: its log says so.
            seed.RunEvents.Add(new RunEvent { RunId = 5, Kind = "StoppedEarly", Step = 60, Message = "stopped at step 60 (validation.prune: halving): its best held-out vision loss (0.3) is not among the best 1 of the 2 runs" });
            // Run 1's validations: step 10 has the mean (0.4 + 0.2) / 2 = 0.3, step 20 (0.5 + 0.3) / 2 = 0.4.
            seed.ValidationPoints.AddRange(
                new ValidationPoint { RunId = 1, Step = 10, Category = "text", VisionLoss = 0.4 },
                new ValidationPoint { RunId = 1, Step = 10, Category = "semantics", VisionLoss = 0.2 },
                new ValidationPoint { RunId = 1, Step = 20, Category = "text", VisionLoss = 0.5 },
                new ValidationPoint { RunId = 1, Step = 20, Category = "semantics", VisionLoss = 0.3 });
            // Run 1's training loss halves at each of its 4 updates.
            seed.MetricPoints.AddRange(new[] { 0.8, 0.4, 0.2, 0.1 }.Select((loss, i) => new MetricPoint { RunId = 1, Step = i + 1, Loss = loss }));
            await seed.SaveChangesAsync();
        }
        var options = new StudioOptions { DataDirectory = data };
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        ctx.Services.AddSingleton(db);
        ctx.Services.AddSingleton(new RunData(readsThrough is null ? db : new PooledDbContextFactory<StudioDbContext>(
            new DbContextOptionsBuilder<StudioDbContext>().UseSqlite($"Data Source={Path.Combine(data, "studio.db")}").AddInterceptors(readsThrough).Options)));
        ctx.Services.AddSingleton(new RunService(db, new RecordingJobs(), new NoBroadcast(), options));
        ctx.Services.AddSingleton(new RunFeed());
        ctx.AddAuthorization().SetAuthorized("rhea").SetPolicies(StudioRoles.CanChange);
        ctx.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo("/runs"); // where the page lives
        return ctx;
    }

    /// <summary>
    /// Holds the read of the runs' loss lines (the one query that sums MetricPoints by span) until <see cref="Open"/>,
    /// on the thread that runs it, as SQLite's reads do: Microsoft.Data.Sqlite runs its "async" reads on the caller's
    /// thread, and that read takes seconds for a studio's thousands of runs after a start.
    /// </summary>
    sealed class HeldOutlineRead : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
    {
        readonly ManualResetEventSlim _open = new();
        public void Open() => _open.Set();

        void Hold(System.Data.Common.DbCommand command)
        {
            if (command.CommandText.Contains("\"MetricPoints\"") && command.CommandText.Contains("GROUP BY")) _open.Wait(TimeSpan.FromSeconds(60));
        }

        public override Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> ReaderExecuting(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result)
        {
            Hold(command);
            return result;
        }

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader>> ReaderExecutingAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result,
            CancellationToken cancellationToken = default)
        {
            Hold(command);
            return ValueTask.FromResult(result);
        }
    }

    /// <summary>Generous: a loaded CI machine renders slowly.</summary>
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    static List<string> Names(IRenderedComponent<Runs> cut) =>
        cut.FindAll("[data-testid=runs-table] [data-testid=run-name]").Select(a => a.TextContent).ToList();

    static void Search(IRenderedComponent<Runs> cut, string text) =>
        cut.Find("[data-testid=runs-search] input, input[data-testid=runs-search]").Input(text);

    /// <summary>A run filling its teacher-embedding cache (no update yet) shows the fill's share in its bar, not an empty bar.</summary>
    [Fact]
    public async Task ARunFillingItsCacheShowsTheFillInItsBar()
    {
        await using var ctx = await PageContextAsync();
        await using (var seed = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            seed.Runs.Add(new Run { Name = "filling", State = RunState.Running, ConfigYaml = "", TotalSteps = 1000,
                Activity = "filling the teacher-embedding cache: 800 / 2,000 prompts", ActivityFraction = 0.4 });
            seed.Runs.Add(new Run { Name = "training", State = RunState.Running, ConfigYaml = "", Step = 250, TotalSteps = 1000 });
            await seed.SaveChangesAsync();
        }
        var cut = ctx.Render<Runs>();
        string Bar(string name) => cut.FindAll("[data-testid=runs-table] tr").Single(r => r.QuerySelector("[data-testid=run-name]")?.TextContent == name)
            .QuerySelector("[role=progressbar]")!.GetAttribute("aria-valuenow")!;
        cut.WaitForAssertion(() => Assert.Equal("40", Bar("filling")), Wait);
        Assert.Equal("25", Bar("training"));
    }

    [Fact]
    public async Task HundredsOfRunsComeFiftyAPageAndTheSearchLooksThroughAllOfThem()
    {
        await using var ctx = await PageContextAsync();
        await using (var seed = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            seed.Runs.AddRange(Enumerable.Range(1, 114).Select(i => new Run { Name = $"sweep run {i}", State = RunState.Completed, ConfigYaml = "", Group = "big" }));
            await seed.SaveChangesAsync();
        }
        var cut = ctx.Render<Runs>();
        // 120 runs: the newest 50 on the first page, and a pager that says how many there are.
        cut.WaitForAssertion(() => Assert.Equal(50, Names(cut).Count), Wait);
        Assert.Equal("sweep run 114", Names(cut)[0]);
        Assert.Contains("1-50 of 120 runs", cut.Find("[data-testid=runs-pager]").TextContent);
        // The search finds a run on a later page; a few matches need no pager.
        Search(cut, "sweep run 7");
        cut.WaitForAssertion(() => Assert.Equal(["sweep run 79", "sweep run 78", "sweep run 77", "sweep run 76", "sweep run 75", "sweep run 74", "sweep run 73", "sweep run 72", "sweep run 71", "sweep run 70", "sweep run 7"], Names(cut)), Wait);
        Assert.Empty(cut.FindAll("[data-testid=runs-pager]"));
    }

    /// <summary>A lab's counts are written as every other number is ("all (2183)" read as a code).</summary>
    [Fact]
    public async Task TheStateChipsCountWithThousandsSeparators()
    {
        await using var ctx = await PageContextAsync();
        await using (var seed = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            seed.Runs.AddRange(Enumerable.Range(1, 1000).Select(i => new Run { Name = $"bulk {i}", State = RunState.Completed, ConfigYaml = "" }));
            await seed.SaveChangesAsync();
        }
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Contains("all (1,006)", cut.Find("[data-testid=runs-state-filter]").TextContent), Wait);
        Assert.Contains("completed (1,002)", cut.Find("[data-testid=runs-state-filter]").TextContent);
    }

    [Fact]
    public async Task TheSearchMatchesPartOfANameInAnyCaseOrAnIdAndTheStateChipsFilter()
    {
        await using var ctx = await PageContextAsync();
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(6, Names(cut).Count), Wait);
        Assert.Equal(["lr · lr=3e-4", "lr · lr=1e-4", "run 12 of the sweep", "paper t5-base", "Toy-Study-Base", "toy-study-small"], Names(cut)); // newest first
        // The one completed before its last update says so, and why: pruned by successive halving.
        Assert.Single(cut.FindAll("[data-testid=run-stopped-early]"));
        Assert.Contains("lr · lr=1e-4", cut.Find("[data-testid=run-stopped-early]").Closest("tr")!.TextContent);
        Assert.Equal("pruned (halving)", cut.Find("[data-testid=run-stopped-early]").TextContent);

        Search(cut, "study");
        cut.WaitForAssertion(() => Assert.Equal(["Toy-Study-Base", "toy-study-small"], Names(cut)), Wait);
        Search(cut, "#3");
        cut.WaitForAssertion(() => Assert.Equal(["paper t5-base"], Names(cut)), Wait);
        Search(cut, "sweep"); // groups, a name, and notes
        cut.WaitForAssertion(() => Assert.Equal(["lr · lr=3e-4", "lr · lr=1e-4", "run 12 of the sweep", "paper t5-base"], Names(cut)), Wait);
        Search(cut, "12"); // a name part, not run 12 (there is none)
        cut.WaitForAssertion(() => Assert.Equal(["run 12 of the sweep"], Names(cut)), Wait);
        Search(cut, "nothing like it");
        cut.WaitForAssertion(() => Assert.Contains("No run matches", cut.Find("[data-testid=runs-table]").TextContent), Wait);

        Search(cut, "");
        cut.WaitForAssertion(() => Assert.Equal(6, Names(cut).Count), Wait);
        AddressSettles(ctx, cut, "runs");
        LossLinesRead(cut);
        ClickState(cut, "active");
        cut.WaitForAssertion(() => Assert.Equal(["Toy-Study-Base"], Names(cut)), Wait);
        Assert.Contains("failed (2)", cut.Find("[data-testid=runs-state-filter]").TextContent);
    }

    /// <summary>
    /// Waits until the page has put <paramref name="address"/> in the address bar and has rendered for it: it does so
    /// just after the click or the search, and a click must not land on the render that this replaces.
    /// </summary>
    static void AddressSettles(BunitContext ctx, IRenderedComponent<Runs> cut, string address)
    {
        var nav = ctx.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();
        cut.WaitForAssertion(() => Assert.Equal(address, nav.ToBaseRelativePath(nav.Uri)), Wait);
        cut.InvokeAsync(() => { }).Wait(); // the renderer's work is serial: the navigation's render is done after this
    }

    /// <summary>
    /// Waits until the page has read the loss lines (run 1's is drawn; the read renders the page again when it ends,
    /// from the thread pool, and a click must not land on the render that this replaces).
    /// </summary>
    static void LossLinesRead(IRenderedComponent<Runs> cut)
    {
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("[data-testid=run-loss-outline]")), Wait);
        cut.InvokeAsync(() => { }).Wait();
    }

    static void ClickState(IRenderedComponent<Runs> cut, string state) =>
        cut.FindAll("[data-testid=runs-state-filter] .mud-chip").Single(c => c.TextContent.StartsWith(state)).Click();

    [Fact]
    public async Task TheStateAndSearchAreKeptInTheAddressSoALinkOrBackOpensTheSameList()
    {
        await using var ctx = await PageContextAsync();
        var nav = ctx.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();
        nav.NavigateTo("/runs?state=Completed&search=TOY");
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(["toy-study-small"], Names(cut)), Wait);
        Assert.Equal("TOY", cut.Find("[data-testid=runs-search] input, input[data-testid=runs-search]").GetAttribute("value"));
        Assert.Contains("completed", cut.Find("[data-testid=runs-state-filter] .mud-chip-selected").TextContent);

        LossLinesRead(cut);
        ClickState(cut, "all");
        cut.WaitForAssertion(() => Assert.Equal(["Toy-Study-Base", "toy-study-small"], Names(cut)), Wait);
        AddressSettles(ctx, cut, "runs?search=TOY");
        Search(cut, "paper t5");
        AddressSettles(ctx, cut, "runs?search=paper%20t5");
        Assert.Equal(["paper t5-base"], Names(cut));
        ClickState(cut, "cancelled");
        AddressSettles(ctx, cut, "runs?state=cancelled&search=paper%20t5");

        // A run's link clicked just after typing (before the search is applied) is not undone by the search's address.
        Search(cut, "toy");
        nav.NavigateTo("/runs/1");
        await Task.Delay(TimeSpan.FromSeconds(1)); // four times the search's 250 ms pause
        await cut.InvokeAsync(() => { });
        Assert.Equal("runs/1", nav.ToBaseRelativePath(nav.Uri));

        // An unknown state in a link lists every state rather than nothing.
        nav.NavigateTo("/runs?state=sleeping");
        var all = ctx.Render<Runs>();
        all.WaitForAssertion(() => Assert.Equal(6, Names(all).Count), Wait);
    }

    [Fact]
    public async Task TickedRunsOpenTogetherInCompare()
    {
        await using var ctx = await PageContextAsync();
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(6, Names(cut).Count), Wait);
        Assert.Equal("/compare", cut.Find("[data-testid=runs-compare]").GetAttribute("href"));

        cut.Find("[data-testid=run-pick-2] input, input[data-testid=run-pick-2]").Change(true);
        cut.Find("[data-testid=run-pick-1] input, input[data-testid=run-pick-1]").Change(true);
        cut.WaitForAssertion(() => Assert.Equal("/compare?runs=1,2", cut.Find("[data-testid=runs-compare]").GetAttribute("href")), Wait);
        Assert.Contains("Compare 2 selected", cut.Find("[data-testid=runs-compare]").TextContent);
    }

    [Fact]
    public async Task AGroupsRunsAreListedAloneFromTheirChipAndComparedTogether()
    {
        await using var ctx = await PageContextAsync();
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(6, Names(cut).Count), Wait);
        // Each grouped run's chip links to its group; ungrouped runs have none.
        Assert.Equal(["/runs?group=sweep-a", "/runs?group=sweep-a"], cut.FindAll("[data-testid=run-group]").Select(c => c.GetAttribute("href")));
        Search(cut, "SWEEP-A"); // the search reads groups too
        cut.WaitForAssertion(() => Assert.Equal(["lr · lr=3e-4", "lr · lr=1e-4"], Names(cut)), Wait);

        ctx.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo("/runs?group=sweep-a");
        var grouped = ctx.Render<Runs>();
        grouped.WaitForAssertion(() => Assert.Equal(["lr · lr=3e-4", "lr · lr=1e-4"], Names(grouped)), Wait);
        Assert.Contains("group: sweep-a", grouped.Find("[data-testid=runs-group-filter]").TextContent);
        Assert.Equal("/compare?group=sweep-a&view=settings", grouped.Find("[data-testid=runs-compare]").GetAttribute("href"));
        Assert.Contains("Compare this group", grouped.Find("[data-testid=runs-compare]").TextContent);
        Assert.Empty(grouped.FindAll("[data-testid=run-group]")); // no chip repeats the filter
        Assert.Contains("all (2)", grouped.Find("[data-testid=runs-state-filter]").TextContent.Replace("\n", ""));
    }

    [Fact]
    public async Task TickedRunsAreCancelledOrDeletedTogetherAfterOneConfirmation()
    {
        await using var ctx = await PageContextAsync();
        var dialogs = ctx.Render<MudBlazor.MudDialogProvider>();
        ctx.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo("/runs?group=sweep-a");
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(2, Names(cut).Count), Wait);

        // The header box ticks every run shown: the group's two (both stopped, so nothing to cancel).
        cut.Find("[data-testid=runs-pick-all] input, input[data-testid=runs-pick-all]").Change(true);
        cut.WaitForAssertion(() => Assert.Contains("Delete 2", cut.Find("[data-testid=runs-delete-picked]").TextContent), Wait);
        Assert.True(cut.Find("[data-testid=runs-cancel-picked]").HasAttribute("disabled"));
        cut.Find("[data-testid=runs-delete-picked]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Delete 2 runs?", dialogs.Markup), Wait);
        Assert.Contains("lr · lr=3e-4", dialogs.Find("[data-testid=delete-run-list]").TextContent);
        dialogs.Find("[data-testid=confirm-delete]").Click();
        cut.WaitForAssertion(() => Assert.Empty(Names(cut)), Wait);
        var data = ctx.Services.GetRequiredService<RunData>();
        Assert.Equal(4, (await data.RunsAsync()).Count);
        Assert.Empty(cut.FindAll("[data-testid=runs-delete-picked]")); // nothing ticked any more

        // Of a running and a completed run ticked, only the running one can be cancelled.
        ctx.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo("/runs");
        var all = ctx.Render<Runs>();
        all.WaitForAssertion(() => Assert.Equal(4, Names(all).Count), Wait);
        all.Find("[data-testid=run-pick-1] input, input[data-testid=run-pick-1]").Change(true);
        all.Find("[data-testid=run-pick-2] input, input[data-testid=run-pick-2]").Change(true);
        all.WaitForAssertion(() => Assert.Contains("Cancel 1", all.Find("[data-testid=runs-cancel-picked]").TextContent), Wait);
        all.Find("[data-testid=runs-cancel-picked]").Click();
        await WaitUntilAsync(async () => (await data.RunAsync(2))!.State == RunState.Stopping);
        Assert.Equal(RunState.Completed, (await data.RunAsync(1))!.State);
    }

    [Fact]
    public async Task ABayesianSweepsGroupSaysHowManyOfItsRunsAreMadeAndCanBeExtended()
    {
        await using var ctx = await PageContextAsync();
        await using (var context = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            // sweep-a made its two runs (5 and 6, both finished) of two.
            context.SweepPlans.Add(new SweepPlan
            {
                Group = "sweep-a", ConfigYaml = BadInput.ApiHost.ToyYaml(), AxesJson = """[{"field":"optimizer.lr","values":["loguniform(1e-5, 1e-3)"]}]""",
                TotalRuns = 2, AtOnce = 1, MadeRuns = 2, TrialsJson = """[{"runId":5,"settings":["1e-4"]},{"runId":6,"settings":["3e-4"]}]""",
            });
            await context.SaveChangesAsync();
        }
        ctx.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo("/runs?group=sweep-a");
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal("Bayesian search: 2 of 2 runs made", cut.Find("[data-testid=runs-sweep-plan]").TextContent.Trim()), Wait);

        // Two more: one queued now (one at once), the other when it finishes.
        cut.Find("[data-testid=runs-sweep-more] input, input[data-testid=runs-sweep-more]").Input("2");
        cut.Find("[data-testid=runs-sweep-extend]").Click();
        cut.WaitForAssertion(() => Assert.Equal("Bayesian search: 3 of 4 runs made", cut.Find("[data-testid=runs-sweep-plan]").TextContent.Trim()), Wait);
        Assert.Equal(3, Names(cut).Count);
    }

    [Fact]
    public async Task GoingToAGroupStartsWithNothingTicked()
    {
        await using var ctx = await PageContextAsync();
        var nav = ctx.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();
        nav.NavigateTo("/runs");
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(6, Names(cut).Count), Wait);
        cut.Find("[data-testid=run-pick-1] input, input[data-testid=run-pick-1]").Change(true);
        cut.WaitForAssertion(() => Assert.Contains("Delete 1", cut.Find("[data-testid=runs-delete-picked]").TextContent), Wait);

        // Run 1 is not in the group: a Delete there must not reach it unseen.
        nav.NavigateTo("/runs?group=sweep-a");
        cut.WaitForAssertion(() => Assert.Equal(2, Names(cut).Count), Wait);
        Assert.Empty(cut.FindAll("[data-testid=runs-delete-picked]"));
    }

    static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!await condition() && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(await condition());
    }

    [Fact]
    public async Task EachRunShowsItsBestHeldOutLossAndItsStepAndNewValidationsLowerIt()
    {
        await using var ctx = await PageContextAsync();
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(6, Names(cut).Count), Wait);
        string Best(string name) => cut.FindAll("[data-testid=runs-table] tbody tr").Single(r => r.TextContent.Contains(name)).QuerySelector("[data-testid=run-best]")!.TextContent.Trim();
        Assert.Equal("0.3 (10)", Best("toy-study-small"));
        Assert.Equal("–", Best("paper t5-base"));

        await ctx.Services.GetRequiredService<RunFeed>().PublishAsync(new RunBatch(1, [],
            [new ValidationPoint { RunId = 1, Step = 30, Category = "text", VisionLoss = 0.15 }, new ValidationPoint { RunId = 1, Step = 30, Category = "semantics", VisionLoss = 0.05 }], [], null));
        cut.WaitForAssertion(() => Assert.Equal("0.1 (30)", Best("toy-study-small")), Wait);
    }

    /// <summary>
    /// The table does not wait for the loss lines: after a studio starts, reading them for thousands of runs takes
    /// seconds (6 s for 2,000 runs of 400 updates), and SQLite reads on the page's own thread, so the whole page waited.
    /// </summary>
    [Fact]
    public async Task TheTableIsShownWhileTheLossLinesAreStillBeingRead()
    {
        var held = new HeldOutlineRead();
        await using var ctx = await PageContextAsync(held);
        try
        {
            // Before: the render waited for the held read (a TimeoutException here).
            var cut = await Task.Run(() => ctx.Render<Runs>()).WaitAsync(Wait);
            cut.WaitForAssertion(() => Assert.Equal(6, Names(cut).Count), Wait);
            Assert.Empty(cut.FindAll("[data-testid=run-loss-outline]"));
            held.Open();
            cut.WaitForAssertion(() => Assert.Equal("4", cut.Find("[data-testid=run-loss-outline]").GetAttribute("data-points")), Wait);
        }
        finally { held.Open(); }
    }

    /// <summary>A paper-size run's progress reads "120,000 / 320,000" (it read "120000 / 320000").</summary>
    [Fact]
    public async Task ALongRunsStepsHaveThousandsSeparators()
    {
        await using var ctx = await PageContextAsync();
        await using (var seed = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            seed.Runs.Add(new Run { Name = "paper stage 2", State = RunState.Running, ConfigYaml = "", Stage = 1, Step = 120000, TotalSteps = 320000 });
            await seed.SaveChangesAsync();
        }
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(7, Names(cut).Count), Wait);
        var row = cut.FindAll("[data-testid=runs-table] tbody tr").Single(r => r.TextContent.Contains("paper stage 2"));
        Assert.Contains("stage 2 · 120,000 / 320,000", row.TextContent);
    }

    [Fact]
    public async Task EachRunWithALossShowsItsLossCurveInItsRowAndARunningRunsGrowsWithItsPushedPoints()
    {
        await using var ctx = await PageContextAsync();
        var cut = ctx.Render<Runs>();
        cut.WaitForAssertion(() => Assert.Equal(6, Names(cut).Count), Wait);
        AngleSharp.Dom.IElement? Outline(string name) =>
            cut.FindAll("[data-testid=runs-table] tbody tr").Single(r => r.TextContent.Contains(name)).QuerySelector("[data-testid=run-loss-outline]");

        // 4 updates, one point each, on a log scale: x across the cell's 56 px less 2 px margins (2, 2 + 52/3, ..., 54),
        // each halving the same drop in y (24 px high). The lines are read after the table is shown.
        cut.WaitForAssertion(() => Assert.NotNull(Outline("toy-study-small")), Wait);
        var small = Outline("toy-study-small")!;
        Assert.Equal("4", small.GetAttribute("data-points"));
        Assert.Equal("2,2 19.3,8.7 36.7,15.3 54,22", small.QuerySelector("polyline")!.GetAttribute("points"));
        Assert.Equal("Training loss, each update: 0.8 at step 1 → 0.1 at step 4 (log scale)", small.QuerySelector("title")!.TextContent);
        Assert.Null(Outline("paper t5-base"));
        Assert.Null(Outline("Toy-Study-Base"));

        await ctx.Services.GetRequiredService<RunFeed>().PublishAsync(new RunBatch(2,
            [new MetricPoint { RunId = 2, Step = 1, Loss = 0.5 }, new MetricPoint { RunId = 2, Step = 2, Loss = 0.25 }], [], [], null));
        cut.WaitForAssertion(() => Assert.Equal("2", Outline("Toy-Study-Base")?.GetAttribute("data-points")), Wait);
    }

    [Theory]
    [InlineData("stopped at step 600 (validation.prune: median): its best held-out vision loss (0.0213) is worse than the median", "pruned (median)")]
    [InlineData("stopped at step 1,500 (validation.prune: halving): its best held-out vision loss (0.0213) is not among the best 2", "pruned (halving)")]
    [InlineData("stopped early at step 4,500: the held-out vision loss (0.0213) has not gone below its best (0.0198 at step 3,000) in 3 validations (validation.patience: 3)", "stopped early (patience)")]
    [InlineData("something a later version says", "stopped early")]
    [InlineData(null, "stopped early")]
    public void AStoppedRunIsMarkedByWhatStoppedIt(string? reason, string label) => Assert.Equal(label, RunFormat.StopLabel(reason));
}
