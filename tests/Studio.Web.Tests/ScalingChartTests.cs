using Microsoft.AspNetCore.Components;
using System.Globalization;
using Bunit;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using MudBlazor;
using Studio.Core;
using Studio.Core.Charts;
using Studio.Core.Data;
using Studio.Core.Evaluations;
using Studio.Core.Live;
using Studio.Core.Queue;
using Studio.Ml.Distillation;
using Studio.Ml.Toy;
using Studio.Web.Auth;
using Studio.Web.Components.Charts;
using Studio.Web.Components.Pages;

namespace Studio.Web.Tests;

/// <summary>The scaling chart (student size against an evaluation metric) and the Compare page that feeds it.</summary>
public class ScalingChartTests
{
    static BunitContext NewContext()
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        return ctx;
    }

    static double Attr(AngleSharp.Dom.IElement e, string name) => double.Parse(e.GetAttribute(name)!, CultureInfo.InvariantCulture);

    [Fact]
    public async Task PointsSitOnALogAxisByGroupWithTheTeacherAsAReferenceLine()
    {
        await using var ctx = NewContext();
        ScatterPoint[] points =
        [
            new(1e7, 0.9, "large", Scaling.VisionGroup), new(1e5, 0.5, "small", Scaling.VisionGroup),
            new(1e6, 0.8, "base", Scaling.VisionGroup), new(1e6, 0.6, "base naive", Scaling.NaiveGroup),
        ];
        var cut = ctx.Render<ScatterChart>(p => p.Add(c => c.Points, points).Add(c => c.References, [new ReferenceLine("teacher", 0.95, 1e8)])
            .Add(c => c.GroupOrder, [Scaling.VisionGroup, Scaling.NaiveGroup]));

        Assert.Equal("true", cut.Find("svg.studio-chart-svg").GetAttribute("data-log-x"));
        var drawn = cut.FindAll("[data-point]");
        Assert.Equal(4, drawn.Count);
        Assert.Equal(["small", "base", "large"], drawn.Where(d => d.GetAttribute("data-group") == Scaling.VisionGroup).Select(d => d.GetAttribute("data-label")));
        // Vision-loss runs are circles, the naive baseline squares.
        Assert.Equal(3, cut.FindAll($"[data-group='{Scaling.VisionGroup}'] circle").Count);
        Assert.Single(cut.FindAll($"[data-group='{Scaling.NaiveGroup}'] rect"));
        // Log scale: 1e5, 1e6 and 1e7 parameters are equally far apart, and the ticks are decades.
        var cx = cut.FindAll($"[data-group='{Scaling.VisionGroup}'] circle").Select(c => Attr(c, "cx")).ToArray();
        Assert.Equal(cx[1] - cx[0], cx[2] - cx[1], 0.5); // attributes are rounded to 0.1 px
        Assert.True(cx[1] - cx[0] > 100, $"{cx[0]} {cx[1]}");
        Assert.Equal(["100k", "1M", "10M", "100M"], cut.FindAll("[data-x-tick]").Select(t => t.TextContent));
        // Higher scores are drawn higher (SVG y grows downwards); the teacher's line is above them all.
        var cy = cut.FindAll($"[data-group='{Scaling.VisionGroup}'] circle").Select(c => Attr(c, "cy")).ToArray();
        Assert.True(cy[0] > cy[1] && cy[1] > cy[2]);
        var teacher = cut.Find("line[data-reference=teacher]");
        Assert.Equal(0.95, Attr(teacher, "data-y"));
        Assert.True(Attr(teacher, "y1") < cy[2]);
        Assert.Equal("6 4", teacher.GetAttribute("stroke-dasharray"));
        // The teacher's own size (1e8) is one more decade to the right, on its line.
        var teacherPoint = cut.Find("circle[data-reference-point=teacher]");
        Assert.Equal(cx[2] - cx[1], Attr(teacherPoint, "cx") - cx[2], 0.5);
        Assert.Equal(Attr(teacher, "y1"), Attr(teacherPoint, "cy"));
        Assert.Contains("teacher", cut.Find("[data-reference-label]").TextContent);
        Assert.Equal([Scaling.VisionGroup, Scaling.NaiveGroup, "teacher"], cut.FindAll("[data-legend]").Select(l => l.GetAttribute("data-legend")));
    }

    [Fact]
    public async Task APointsIntervalIsAnErrorBarFromItsLowToItsHighBound()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<ScatterChart>(p => p.Add(c => c.Points,
        [
            new ScatterPoint(1e6, 0.5, "base", Scaling.VisionGroup, new ScoreInterval(0.3, 0.9)),
            new ScatterPoint(1e7, 0.6, "large", Scaling.VisionGroup),
        ]));

        var bar = cut.Find("[data-label=base] [data-error-bar]");
        Assert.Equal((0.3, 0.9), (Attr(bar, "data-low"), Attr(bar, "data-high")));
        var marker = cut.Find("[data-label=base] circle");
        var whisker = bar.QuerySelector("line")!;
        // Along the point's x, from below it (the low bound: larger SVG y) to above it; the y axis grows to hold the
        // whole bar (its top stays below the plot's 10 px top margin).
        Assert.Equal(Attr(marker, "cx"), Attr(whisker, "x1"));
        Assert.True(Attr(whisker, "y1") > Attr(marker, "cy") && Attr(marker, "cy") > Attr(whisker, "y2"), whisker.OuterHtml);
        Assert.True(Attr(whisker, "y2") >= 10, whisker.OuterHtml);
        Assert.Empty(cut.FindAll("[data-label=large] [data-error-bar]"));
    }

    /// <summary>The four study runs and the teacher as docs/STUDIO.md's Compare screenshot once drew them, labels over one another.</summary>
    /// <summary>
    /// Two toy studies' points (300 updates; the second is docs/STUDIO.md's Compare screenshot of 2026-12-07, where labels with
    /// size and step crossed the naive and large students' error bars), labelled as the scaling chart labels them when
    /// every point is at the same step and each run's name says its size: the run alone.
    /// </summary>
    public static TheoryData<string> CrowdedStudies => ["first", "screenshot"];

    static ScatterPoint[] CrowdedStudy(string name) => name == "first"
        ?
        [
            new(1_112_224, 0.086, "1 · toy-study-small", Scaling.VisionGroup, new ScoreInterval(0.017, 0.169)),
            new(2_220_416, 0.078, "2 · toy-study-base", Scaling.VisionGroup, new ScoreInterval(0.017, 0.161)),
            new(2_220_416, 0.047, "4 · toy-study-naive", Scaling.NaiveGroup, new ScoreInterval(0.008, 0.097)),
            new(4_703_232, 0.103, "3 · toy-study-large", Scaling.VisionGroup, new ScoreInterval(0.028, 0.192)),
        ]
        :
        [
            new(1_112_224, 0.035, "1 · toy-study-small", Scaling.VisionGroup, new ScoreInterval(0.012, 0.065)),
            new(2_220_416, 0.023, "2 · toy-study-base", Scaling.VisionGroup, new ScoreInterval(0, 0.063)),
            new(2_220_416, 0.075, "4 · toy-study-naive", Scaling.NaiveGroup, new ScoreInterval(0.014, 0.156)),
            new(4_703_232, 0.115, "3 · toy-study-large", Scaling.VisionGroup, new ScoreInterval(0.032, 0.217)),
        ];

    [Theory]
    [MemberData(nameof(CrowdedStudies))]
    public async Task PointLabelsStayClearOfEachOtherTheTeachersLabelTheMarkersAndTheErrorBars(string study)
    {
        await using var ctx = NewContext();
        var points = CrowdedStudy(study);
        var teacherY = study == "first" ? 0.1056 : 0.1083;
        var cut = ctx.Render<ScatterChart>(p => p.Add(c => c.Points, points)
            .Add(c => c.References, [new ReferenceLine("teacher", teacherY, 9_536_896)]).Add(c => c.GroupOrder, [Scaling.VisionGroup, Scaling.NaiveGroup]));

        // Each text's box from its drawn position, anchor and length (11px font: at most 6.3 units a glyph, 12 a line).
        static (double X0, double X1, double Y0, double Y1) Box(AngleSharp.Dom.IElement text)
        {
            var (x, y, width) = (Attr(text, "x"), Attr(text, "y"), text.TextContent.Length * 6.3);
            var x0 = text.GetAttribute("text-anchor") == "end" ? x - width : x;
            return (x0, x0 + width, y - 10, y + 2);
        }
        static bool Overlap((double X0, double X1, double Y0, double Y1) a, (double X0, double X1, double Y0, double Y1) b) =>
            a.X0 < b.X1 && b.X0 < a.X1 && a.Y0 < b.Y1 && b.Y0 < a.Y1;

        var labels = cut.FindAll("[data-point-label]").ToList();
        Assert.Equal(4, labels.Count);
        var boxes = labels.Select(Box).Append(Box(cut.Find("[data-reference-label]"))).ToList();
        for (var i = 0; i < boxes.Count; i++)
            for (var j = i + 1; j < boxes.Count; j++)
                Assert.False(Overlap(boxes[i], boxes[j]), $"'{(i < 4 ? labels[i].TextContent : "teacher")}' overlaps '{(j < 4 ? labels[j].TextContent : "teacher")}'");
        // Inside the drawing (800 wide), over no marker and across no error bar (each bar's vertical line).
        Assert.All(boxes, b => Assert.True(b.X0 >= 0 && b.X1 <= 800, $"{b}"));
        var markers = cut.FindAll("[data-point] circle").Select(c => (Attr(c, "cx"), Attr(c, "cy")))
            .Concat(cut.FindAll("[data-point] rect").Select(r => (Attr(r, "x") + 4.5, Attr(r, "y") + 4.5)))
            .Append((Attr(cut.Find("[data-reference-point]"), "cx"), Attr(cut.Find("[data-reference-point]"), "cy"))).ToList();
        Assert.Equal(5, markers.Count);
        foreach (var (mx, my) in markers)
            Assert.All(boxes, b => Assert.False(Overlap(b, (mx - 5, mx + 5, my - 5, my + 5)), $"a label {b} covers the marker at ({mx}, {my})"));
        var bars = cut.FindAll("[data-error-bar] line:first-child").Select(l => (Attr(l, "x1"), Math.Min(Attr(l, "y1"), Attr(l, "y2")), Math.Max(Attr(l, "y1"), Attr(l, "y2")))).ToList();
        Assert.Equal(4, bars.Count);
        foreach (var (bx, top, bottom) in bars)
            Assert.All(boxes, b => Assert.False(Overlap(b, (bx - 1, bx + 1, top, bottom)), $"a label {b} crosses the error bar at x {bx} from {top} to {bottom}"));

        // A label moved more than a line from its point is joined to it: its leader starts at the point's marker and ends at the label.
        foreach (var label in labels)
        {
            var point = label.ParentElement!;
            var marker = point.QuerySelector("circle") is { } c ? (X: Attr(c, "cx"), Y: Attr(c, "cy")) : (X: Attr(point.QuerySelector("rect")!, "x") + 4.5, Y: Attr(point.QuerySelector("rect")!, "y") + 4.5);
            var leader = point.QuerySelector("[data-label-leader]");
            var box = Box(label);
            var far = box.Y0 > marker.Y + 14 + 12 || box.Y1 < marker.Y - 14 - 12;
            if (!far) continue;
            Assert.True(leader is not null, $"'{label.TextContent}' sits {Math.Min(Math.Abs(box.Y0 - marker.Y), Math.Abs(box.Y1 - marker.Y)):0} units from its point with no leader");
            Assert.InRange(Math.Sqrt(Math.Pow(Attr(leader!, "x1") - marker.X, 2) + Math.Pow(Attr(leader!, "y1") - marker.Y, 2)), 5.5, 6.5);
            Assert.Equal(Attr(label, "x"), Attr(leader!, "x2"), 1);
            Assert.InRange(Attr(leader!, "y2"), box.Y0, box.Y1);
        }
    }

    [Fact]
    public async Task NarrowRangesGetTwoAndFiveTicksAndNothingToDrawSaysSo()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<ScatterChart>(p => p.Add(c => c.Points, [new ScatterPoint(1.2e6, 0.5, "a", "g"), new ScatterPoint(3e6, 0.6, "b", "g")]));
        Assert.Equal(["2M"], cut.FindAll("[data-x-tick]").Select(t => t.TextContent));

        // Scores of 0 (a teacher that draws nothing recognisable yet) sit on an axis that starts at 0, not below.
        var zeros = ctx.Render<ScatterChart>(p => p.Add(c => c.Points, [new ScatterPoint(2e6, 0, "a", "g")]).Add(c => c.References, [new ReferenceLine("teacher", 0)]));
        Assert.Equal("0", zeros.FindAll("[data-y-tick]")[0].TextContent);
        Assert.DoesNotContain(zeros.FindAll("[data-y-tick]"), t => t.TextContent.StartsWith('-'));

        var empty = ctx.Render<ScatterChart>(p => p.Add(c => c.EmptyText, "Nothing evaluated."));
        Assert.Empty(empty.FindAll("[data-point]"));
        Assert.Contains("Nothing evaluated.", empty.Markup);
    }

    static (BunitContext Context, IDbContextFactory<StudioDbContext> Db, EvaluationFeed Feed) NewPageContext(bool researcher)
    {
        var data = Directory.CreateTempSubdirectory("studio-web-compare-").FullName;
        var ctx = NewContext();
        var db = TestStudioDb.Create(data);
        var options = new StudioOptions { DataDirectory = data };
        var feed = new EvaluationFeed();
        ctx.Services.AddSingleton<IDbContextFactory<StudioDbContext>>(db);
        ctx.Services.AddSingleton(new RunData(db));
        ctx.Services.AddSingleton(feed);
        ctx.Services.AddSingleton(new EvaluationService(db, new RecordingJobs(), feed, options));
        ctx.Services.AddSingleton(new RunFeed());
        ctx.Services.AddSingleton(options);
        var auth = ctx.AddAuthorization();
        auth.SetAuthorized(researcher ? "rhea" : "vera");
        if (researcher) auth.SetPolicies(StudioRoles.CanChange);
        return (ctx, db, feed);
    }

    static void ShowTab(IRenderedComponent<Compare> page, string name) => page.FindAll(".mud-tab").Single(t => t.TextContent.Trim() == name).Click();

    [Fact]
    public async Task AnEmptyStudioShowsTheCurvesFirstThenWhatToDoAndViewersGetNoEvaluateButtons()
    {
        var (ctx, _, _) = NewPageContext(researcher: false);
        await using var _ = ctx;
        var cut = ctx.Render<Compare>();
        // No evaluation yet: the training curves are the default view.
        cut.WaitForAssertion(() => Assert.Contains("Select runs to overlay their curves.", cut.Find("[data-testid=compare-chart]").TextContent));
        Assert.Empty(cut.FindAll("[data-testid=scaling-chart]"));

        ShowTab(cut, "Scaling");
        cut.WaitForAssertion(() => Assert.Contains("No evaluation yet", cut.Find("[data-testid=scaling-chart]").TextContent));
        Assert.Empty(cut.FindAll("[data-point]"));
        Assert.Contains("No evaluation with these settings yet.", cut.Find("[data-testid=scaling-table]").TextContent);
        Assert.Empty(cut.FindAll("[data-testid=evaluate-teacher]"));
        Assert.Contains("requesting one needs the researcher role", cut.Markup);

        var (researcherCtx, _, _) = NewPageContext(researcher: true);
        await using var __ = researcherCtx;
        var page = researcherCtx.Render<Compare>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=compare-chart]")));
        ShowTab(page, "Scaling");
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=evaluate-teacher]")));

        // A link with ?view=scaling opens the scaling chart even before any evaluation exists.
        var navigation = researcherCtx.Services.GetRequiredService<NavigationManager>();
        navigation.NavigateTo(navigation.GetUriWithQueryParameter("view", "scaling"));
        var linked = researcherCtx.Render<Compare>();
        linked.WaitForAssertion(() => Assert.Single(linked.FindAll("[data-testid=evaluate-teacher]")));
        Assert.Empty(linked.FindAll("[data-testid=compare-chart]"));
    }

    /// <summary>A researcher evaluates the teacher with a LoRA from the allowed folders: the LoRA is offered, and the queued evaluation carries it.</summary>
    [Fact]
    public async Task TheTeacherIsEvaluatedWithALoraChosenFromTheAllowedFolders()
    {
        var (ctx, db, _) = NewPageContext(researcher: true);
        await using var _ = ctx;
        var data = ctx.Services.GetRequiredService<StudioOptions>().DataDirectory;
        var lora = Studio.Core.Tests.LoraFiles.Query(Directory.CreateDirectory(Path.Combine(data, "loras")).FullName);
        var cut = ctx.Render<Compare>();
        ShowTab(cut, "Scaling");
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-testid=evaluate-teacher]")));
        var field = cut.FindComponents<MudBlazor.MudAutocomplete<string>>().Single(c => c.Instance.Label == "LoRA (optional)");
        Assert.Equal([lora], [.. await field.Instance.SearchFunc!("lora-", CancellationToken.None)!]);
        await cut.InvokeAsync(() => field.Instance.ValueChanged.InvokeAsync(lora));
        cut.Find("[data-testid=evaluate-lora-scale] input, input[data-testid=evaluate-lora-scale]").Change("0.5");
        cut.Find("[data-testid=evaluate-teacher]").Click();

        await using var check = db.CreateDbContext();
        cut.WaitForAssertion(() => Assert.Single(check.Evaluations.AsNoTracking().ToList()));
        var queued = check.Evaluations.AsNoTracking().Single();
        Assert.Equal((lora, 0.5, "teacher"), (queued.LoraPath, queued.LoraScale, queued.Encoder));
        Assert.EndsWith($" · LoRA {lora} × 0.5", queued.SettingsKey);
    }

    [Fact]
    public async Task ALinkNamingRunsSelectsThoseThatExistAndOverlaysTheirCurves()
    {
        var (ctx, db, _) = NewPageContext(researcher: false);
        await using var _ = ctx;
        int a, b;
        await using (var context = db.CreateDbContext())
        {
            var first = new Run { Name = "alpha", State = RunState.Completed, ConfigYaml = "" };
            var second = new Run { Name = "beta", State = RunState.Completed, ConfigYaml = "" };
            context.Runs.AddRange(first, second, new Run { Name = "gamma", State = RunState.Completed, ConfigYaml = "" });
            await context.SaveChangesAsync();
            (a, b) = (first.Id, second.Id);
            foreach (var run in new[] { a, b })
                context.MetricPoints.AddRange(Enumerable.Range(1, 3).Select(step => new MetricPoint
                {
                    RunId = run, Step = step, Loss = 1.0 / step, Time = new DateTime(2026, 12, 5, 10, 0, 0, DateTimeKind.Utc).AddSeconds(100 * step * (run == a ? 1 : 2)),
                    // beta was stopped after step 2 and resumed: its step 3 came 20 s into the new session.
                    ElapsedSeconds = run == a ? 100 * step : step < 3 ? 200 * step : 20,
                }));
            await context.SaveChangesAsync();
        }
        var navigation = ctx.Services.GetRequiredService<NavigationManager>();
        navigation.NavigateTo(navigation.GetUriWithQueryParameter("runs", $"{b},999,x,{a}"));
        var cut = ctx.Render<Compare>();

        // Training curves (no view named), one raw line per named run that exists; the unknown id and the junk are ignored.
        cut.WaitForAssertion(() => Assert.Equal([$"{b} · beta", $"{a} · alpha"],
            cut.FindAll("[data-testid=compare-chart] path[data-kind=raw]").Select(p => p.GetAttribute("data-series"))), TimeSpan.FromSeconds(15));
        Assert.All(cut.FindAll("[data-testid=compare-chart] path[data-kind=raw]"), p => Assert.Equal("3", p.GetAttribute("data-count")));
        // The run the link names that does not exist (deleted) is said, not silently dropped.
        Assert.Contains("The link names run 999, which no longer exists (deleted)", cut.Find("[data-testid=compare-missing]").TextContent);

        // Live: a point of an overlaid run extends its curve; a point of a run not shown changes nothing.
        var runs = ctx.Services.GetRequiredService<RunFeed>();
        await runs.PublishAsync(new RunBatch(a, [new MetricPoint { RunId = a, Step = 4, Loss = 0.2, Time = new DateTime(2026, 12, 5, 10, 0, 0, DateTimeKind.Utc).AddSeconds(400), ElapsedSeconds = 400 }], [], [], null));
        var third = (await db.CreateDbContext().Runs.SingleAsync(r => r.Name == "gamma")).Id;
        await runs.PublishAsync(new RunBatch(third, [new MetricPoint { RunId = third, Step = 1, Loss = 0.9 }], [], [], null));
        cut.WaitForAssertion(() => Assert.Equal(["3", "4"],
            cut.FindAll("[data-testid=compare-chart] path[data-kind=raw]").Select(p => p.GetAttribute("data-count"))), TimeSpan.FromSeconds(15));
        Assert.Equal(2, cut.FindAll("[data-testid=compare-chart] path[data-kind=raw]").Count);

        // x: wall time draws the same curves against the time since each run's first point: beta's steps 1-3 took 400 s.
        Assert.DoesNotContain(cut.FindAll("[data-testid=compare-chart] [data-x-tick]"), t => t.TextContent.Contains('s'));
        var axis = cut.FindComponent<MudSelect<CurveAxis>>();
        await cut.InvokeAsync(() => axis.Instance.ValueChanged.InvokeAsync(CurveAxis.WallTime));
        cut.WaitForAssertion(() => Assert.Contains("wall time", cut.Find("[data-testid=compare-chart]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Equal(["0s", "1m 40s", "3m 20s", "5m 00s", "6m 40s"], cut.FindAll("[data-testid=compare-chart] [data-x-tick]").Select(t => t.TextContent.Trim()));
        // x: training time leaves out beta's stop: its step 3 at 200 + 20 s, so the axis ends at alpha's 300 s.
        await cut.InvokeAsync(() => axis.Instance.ValueChanged.InvokeAsync(CurveAxis.TrainingTime));
        cut.WaitForAssertion(() => Assert.Contains("training time", cut.Find("[data-testid=compare-chart]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Equal(["0s", "50s", "1m 40s", "2m 30s", "3m 20s", "4m 10s", "5m 00s"], cut.FindAll("[data-testid=compare-chart] [data-x-tick]").Select(t => t.TextContent.Trim()));

        // The address follows the view and the selection (the unknown id and the junk gone), so it can be sent as a link.
        ShowTab(cut, "Settings and results");
        cut.WaitForAssertion(() => Assert.EndsWith($"/compare?view=settings&runs={b},{a}", navigation.Uri), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task ALinkNamingAGroupSelectsItsRunsAndTheAddressNamesTheGroupWhileTheSelectionIsExactlyIt()
    {
        var (ctx, db, _) = NewPageContext(researcher: false);
        await using var _ = ctx;
        int a, b, c;
        await using (var context = db.CreateDbContext())
        {
            var first = new Run { Name = "lr · lr=1e-4", Group = "lr sweep", State = RunState.Completed, ConfigYaml = "" };
            var second = new Run { Name = "lr · lr=3e-4", Group = "lr sweep", State = RunState.Completed, ConfigYaml = "" };
            var other = new Run { Name = "baseline", State = RunState.Completed, ConfigYaml = "" };
            context.Runs.AddRange(first, second, other);
            await context.SaveChangesAsync();
            (a, b, c) = (first.Id, second.Id, other.Id);
            foreach (var run in new[] { a, b, c })
                context.MetricPoints.AddRange(Enumerable.Range(1, 3).Select(step => new MetricPoint
                    { RunId = run, Step = step, Loss = 1.0 / step, Time = new DateTime(2026, 12, 5, 10, 0, 0, DateTimeKind.Utc).AddSeconds(100 * step * (run == a ? 1 : 2)) }));
            await context.SaveChangesAsync();
        }
        var navigation = ctx.Services.GetRequiredService<NavigationManager>();
        navigation.NavigateTo("/compare?group=lr%20sweep&view=curves");
        var cut = ctx.Render<Compare>();
        cut.WaitForAssertion(() => Assert.Equal([$"{a} · lr · lr=1e-4", $"{b} · lr · lr=3e-4"],
            cut.FindAll("[data-testid=compare-chart] path[data-kind=raw]").Select(p => p.GetAttribute("data-series")).Order()), TimeSpan.FromSeconds(15));

        ShowTab(cut, "Settings and results");
        cut.WaitForAssertion(() => Assert.EndsWith("/compare?view=settings&group=lr%20sweep", navigation.Uri), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task AResearcherCancelsAQueuedEvaluationFromTheTable()
    {
        var (ctx, db, _) = NewPageContext(researcher: true);
        await using var _ = ctx;
        var evaluations = ctx.Services.GetRequiredService<EvaluationService>();
        var queued = await evaluations.RequestTeacherAsync();
        var navigation = ctx.Services.GetRequiredService<NavigationManager>();
        navigation.NavigateTo(navigation.GetUriWithQueryParameter("view", "scaling"));
        var cut = ctx.Render<Compare>();
        cut.WaitForAssertion(() => Assert.Contains("queued", cut.Find("[data-testid=evaluation-state]").TextContent), TimeSpan.FromSeconds(15));

        cut.Find("[data-testid=evaluation-cancel]").Click();
        cut.WaitForAssertion(() => Assert.Equal("cancelled", cut.Find("[data-testid=evaluation-state]").TextContent.Trim()), TimeSpan.FromSeconds(15));
        Assert.Empty(cut.FindAll("[data-testid=evaluation-cancel]"));
        await using var context = db.CreateDbContext();
        Assert.Equal(EvaluationState.Cancelled, (await context.Evaluations.SingleAsync(v => v.Id == queued.Id)).State);
    }

    [Fact]
    public async Task StoredEvaluationsArePlottedAndAFinishedOneAppearsLive()
    {
        var (ctx, db, feed) = NewPageContext(researcher: false);
        await using var _ = ctx;
        var vision = RunPresets.Find("toy-study-small").Create();
        var naive = RunPresets.Find("toy-study-naive").Create();
        int small, baseline;
        await using (var context = db.CreateDbContext())
        {
            var a = new Run { Name = "small", State = RunState.Completed, ConfigYaml = vision.ToYaml() };
            var b = new Run { Name = "naive", State = RunState.Completed, ConfigYaml = naive.ToYaml() };
            context.Runs.AddRange(a, b);
            await context.SaveChangesAsync();
            (small, baseline) = (a.Id, b.Id);
            var latest = Done(small, 20, 1_100_000, 0.3, "toy-small", "vision"); // the latest checkpoint is the one plotted
            latest.Device = "cuda:1";
            latest.IntervalsJson = """ {"semantics": {"low": 0.25, "high": 0.375}} """;
            context.Evaluations.AddRange(
                Done(small, 10, 1_100_000, 0.2, "toy-small", "vision"),
                latest,
                Done(null, 0, 20_000_000, 0.9, "teacher", null),
                new CheckpointEvaluation { RunId = baseline, CheckpointId = 7, Step = 20, Pipeline = "toy", Encoder = "run · step 20", SizeLabel = "toy-base",
                    Loss = "naive", State = EvaluationState.Failed, Error = "checkpoint 7 was deleted", PromptsPerCategory = 10, Seeds = 1, Steps = 20, Guidance = 3.5 });
            await context.SaveChangesAsync();
        }
        var cut = ctx.Render<Compare>();
        // Evaluations exist: the scaling chart is the default view, the training curves wait in their tab.
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-point]")));
        Assert.Empty(cut.FindAll("[data-testid=compare-chart]"));
        Assert.Equal("Scaling", cut.Find(".mud-tab-active").TextContent.Trim());
        var point = cut.Find("[data-point]");
        Assert.Equal(0.3, double.Parse(point.GetAttribute("data-y")!, CultureInfo.InvariantCulture));
        // Its stored interval is the error bar, and the table gives it beside the score.
        var bar = point.QuerySelector("[data-error-bar]")!;
        Assert.Equal((0.25, 0.375), (Attr(bar, "data-low"), Attr(bar, "data-high")));
        Assert.Contains(cut.FindAll("[data-testid=evaluation-semantics]"), c => c.TextContent.Contains("0.3 (0.25–0.375)"));
        Assert.Equal(Scaling.VisionGroup, point.GetAttribute("data-group"));
        Assert.Equal(0.9, double.Parse(cut.Find("line[data-reference=teacher]").GetAttribute("data-y")!, CultureInfo.InvariantCulture));
        Assert.Contains("checkpoint 7 was deleted", cut.Find("[data-testid=scaling-table]").TextContent);
        // The device column: the plotted run's evaluation ran on cuda:1; the others say none.
        var devices = cut.FindAll("[data-testid=evaluation-device]").Select(d => d.TextContent).ToList();
        Assert.Equal(3, devices.Count);
        Assert.Equal(["cuda:1"], devices.Where(d => d != "–"));

        // The naive baseline's evaluation finishes: the page hears it from the feed and draws it without a reload.
        await feed.PublishAsync(Done(baseline, 20, 3_000_000, 0.25, "toy-base", "naive", id: 99));
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-point]").Count));
        Assert.Single(cut.FindAll($"[data-group='{Scaling.NaiveGroup}'] rect"));
        // An evaluation without stored intervals (as those from before them) has no error bar.
        Assert.Empty(cut.FindAll($"[data-group='{Scaling.NaiveGroup}'] [data-error-bar]"));

        // x: training step: each run a line through all its evaluated checkpoints (small's steps 10 and 20), on a linear axis.
        var axis = cut.FindComponents<MudSelect<bool>>().Single(c => c.Instance.Label == "x axis");
        await cut.InvokeAsync(() => axis.Instance.ValueChanged.InvokeAsync(true));
        cut.WaitForAssertion(() => Assert.Equal(["1 · small · step 10", "1 · small · step 20", "2 · naive · step 20"],
            cut.FindAll("[data-point]").Select(p => p.GetAttribute("data-label"))), TimeSpan.FromSeconds(15));
        Assert.Equal("false", cut.Find("svg.studio-chart-svg").GetAttribute("data-log-x"));
        Assert.Equal(0.9, double.Parse(cut.Find("line[data-reference=teacher]").GetAttribute("data-y")!, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task EvaluationsByTeacherAgreementOfferOnlyTheMetricsTheyHaveAndAreChartedAtOnce()
    {
        var (ctx, db, _) = NewPageContext(researcher: false);
        await using var _ = ctx;
        await using (var context = db.CreateDbContext())
        {
            var run = new Run { Name = "flux-base", State = RunState.Completed, ConfigYaml = RunPresets.Find("toy-study-small").Create().ToYaml() };
            context.Runs.Add(run);
            await context.SaveChangesAsync();
            // A FLUX.1 teacher's run: no toy scores, only the difference to the teacher (and the encoder's size and latency).
            var agreement = Done(run.Id, 20, 110_000_000, 0, "base", "vision");
            (agreement.Semantics, agreement.Text, agreement.ImageQualityFrechet, agreement.FrechetAll) = (null, null, null, null);
            (agreement.Pipeline, agreement.Resolution, agreement.MaxSequenceLength, agreement.TeacherDifference, agreement.EncoderLatencyMs) = ("/models/flux-dev", 512, 77, 9.5, 4.0);
            context.Evaluations.Add(agreement);
            await context.SaveChangesAsync();
        }
        var cut = ctx.Render<Compare>();
        // The first metric (semantic accuracy) has no value here: the chart shows the difference to the teacher instead.
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-point]")));
        Assert.Equal(9.5, double.Parse(cut.Find("[data-point]").GetAttribute("data-y")!, CultureInfo.InvariantCulture));
        Assert.Equal(Scaling.Metric("teacher-difference").Label, cut.FindComponents<ScatterChart>().Single().Instance.Title);
        Assert.Contains("agreement at 512 px, 77 tokens", cut.Markup);
    }

    [Fact]
    public async Task AnEvaluationABfloat16WorkerFinishesIsItsOwnChoiceAndTheChosenSettingsFollowIt()
    {
        var (ctx, db, feed) = NewPageContext(researcher: true);
        await using var _ = ctx;
        await using (var context = db.CreateDbContext())
        {
            context.Runs.Add(new Run { Name = "small", State = RunState.Completed, ConfigYaml = RunPresets.Find("toy-study-small").Create().ToYaml() });
            await context.SaveChangesAsync();
            context.Evaluations.Add(Done(1, 20, 1_100_000, 0.3, "toy-small", "vision")); // float32 (stored before the dtype was)
            await context.SaveChangesAsync();
        }
        // The teacher queued with other settings (4 steps), which nothing else has yet.
        var queued = await ctx.Services.GetRequiredService<EvaluationService>().RequestTeacherAsync(settings: new EvaluationSettings(Steps: 4));
        var navigation = ctx.Services.GetRequiredService<NavigationManager>();
        navigation.NavigateTo(navigation.GetUriWithQueryParameter("view", "scaling"));
        var cut = ctx.Render<Compare>();
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("[data-point]")));
        var settings = cut.FindComponents<MudSelect<string>>().Single(c => c.Instance.Label == "Evaluation settings");
        await cut.InvokeAsync(() => settings.Instance.ValueChanged.InvokeAsync(queued.SeriesKey)); // the teacher's, as Evaluate teacher chooses

        // A bfloat16 worker finishes it: its scores are not float32's, so it is its own choice, and the chosen settings follow it.
        var done = Done(null, 0, 20_000_000, 0.9, "teacher", null, id: queued.Id);
        (done.DType, done.Device, done.Steps) = ("bfloat16", "cuda:0", 4);
        await feed.PublishAsync(done);
        // The table lists the bfloat16 teacher alone: the float32 student is not mixed with it (nor plotted).
        cut.WaitForAssertion(() => Assert.Equal(["0.9"], cut.FindAll("[data-testid=evaluation-semantics]").Select(c => c.TextContent.Trim())));
        Assert.Empty(cut.FindAll("[data-point]"));
        var choices = cut.FindComponents<MudSelectItem<string>>().Select(i => i.Instance.Value).Where(v => v!.StartsWith("heldout")).ToList();
        Assert.Equal([Done(1, 20, 0, 0, "", null).SeriesKey, queued.SettingsKey + " · bfloat16"], choices);
    }

    static CheckpointEvaluation Done(int? runId, long step, long parameters, double semantics, string size, string? loss, int id = 0) => new()
    {
        Id = id, RunId = runId, CheckpointId = runId is null ? null : (int)step, Step = step, Pipeline = "toy", Encoder = runId is null ? "teacher" : $"run {runId} · step {step}",
        SizeLabel = size, Loss = loss, State = EvaluationState.Completed, PromptsPerCategory = 10, Seeds = 1, Steps = 20, Guidance = 3.5,
        EncoderParameters = parameters, Semantics = semantics, Text = semantics / 2, ImageQualityFrechet = 10, FrechetAll = 12, Progress = 1,
    };
}

/// <summary>The run page's checkpoints table: each checkpoint's latest evaluation, and Evaluate for researchers only.</summary>
public class RunDetailEvaluationTests
{
    static async Task<(BunitContext Context, RecordingJobs Jobs, int RunId, int Evaluated, int Fresh)> NewContextAsync(bool researcher)
    {
        var data = Directory.CreateTempSubdirectory("studio-web-rundetail-").FullName;
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var db = TestStudioDb.Create(data);
        var options = new StudioOptions { DataDirectory = data };
        var jobs = new RecordingJobs();
        var feed = new EvaluationFeed();
        ctx.Services.AddSingleton<IDbContextFactory<StudioDbContext>>(db);
        ctx.Services.AddSingleton(new RunData(db));
        ctx.Services.AddSingleton(new RunFeed());
        ctx.Services.AddSingleton(new Studio.Core.Runs.RunService(db, jobs, new NoBroadcast(), options));
        ctx.Services.AddSingleton(feed);
        ctx.Services.AddSingleton(new EvaluationService(db, jobs, feed, options));
        var auth = ctx.AddAuthorization();
        auth.SetAuthorized(researcher ? "rhea" : "vera");
        if (researcher) auth.SetPolicies(StudioRoles.CanChange);

        await using var seed = db.CreateDbContext();
        var run = new Run { Name = "small", State = RunState.Completed, ConfigYaml = RunPresets.Find("toy-study-small").Create().ToYaml() };
        seed.Runs.Add(run);
        await seed.SaveChangesAsync();
        var evaluated = new CheckpointEntry { RunId = run.Id, Path = Directory.CreateDirectory(Path.Combine(data, "step-10")).FullName, Step = 10 };
        var fresh = new CheckpointEntry { RunId = run.Id, Path = Directory.CreateDirectory(Path.Combine(data, "step-20")).FullName, Step = 20 };
        seed.Checkpoints.AddRange(evaluated, fresh);
        await seed.SaveChangesAsync();
        seed.Evaluations.Add(new CheckpointEvaluation
        {
            RunId = run.Id, CheckpointId = evaluated.Id, Step = 10, Pipeline = "toy", Encoder = "run · step 10", SizeLabel = "toy-small", Loss = "vision",
            State = EvaluationState.Completed, PromptsPerCategory = 10, Seeds = 1, Steps = 20, Guidance = 3.5, Semantics = 0.4, Text = 0.125, ImageQualityFrechet = 12.5,
        });
        await seed.SaveChangesAsync();
        return (ctx, jobs, run.Id, evaluated.Id, fresh.Id);
    }

    [Fact]
    public async Task TheEvaluateButtonsAskForTheRunsEvaluationSettingsAndAnotherSettingsEvaluationIsLabelled()
    {
        var (ctx, jobs, runId, evaluated, fresh) = await NewContextAsync(researcher: true);
        await using var _ = ctx;
        var dbs = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>();
        await using (var db = dbs.CreateDbContext())
        {
            // The run asked for 4 prompts per category and 8 steps; step 10's evaluation used the defaults (10, 20).
            var run = await db.Runs.SingleAsync(r => r.Id == runId);
            new AutoEvaluation(Settings: new EvaluationSettings(PromptsPerCategory: 4, Steps: 8)).ApplyTo(run);
            await db.SaveChangesAsync();
        }
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal("Evaluate 2 unevaluated checkpoints", cut.Find("[data-testid=evaluate-all]").TextContent.Trim()), TimeSpan.FromSeconds(15));
        var label = Assert.Single(cut.FindAll("[data-testid=checkpoint-evaluation-settings]"));
        Assert.Equal("other settings: heldout · 10/category · 1 seed(s) · 20 steps · guidance 3.5", label.TextContent.Trim());

        cut.Find("[data-testid=evaluate-all]").Click();
        cut.WaitForAssertion(() => Assert.Equal("Every checkpoint evaluated", cut.Find("[data-testid=evaluate-all]").TextContent.Trim()), TimeSpan.FromSeconds(15));
        Assert.Equal(2, jobs.Created.Count);
        await using (var db = dbs.CreateDbContext())
        {
            var queued = await db.Evaluations.Where(v => v.State == EvaluationState.Queued).OrderBy(v => v.CheckpointId).ToListAsync();
            Assert.Equal([(evaluated, 4, 8), (fresh, 4, 8)], queued.Select(v => (v.CheckpointId!.Value, v.PromptsPerCategory, v.Steps)));
        }
        // Step 10's row now shows the evaluation with the run's settings (queued), not the older one of other settings.
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=checkpoint-evaluation-settings]")), TimeSpan.FromSeconds(15));
    }

    /// <summary>A long run's charts draw a thinned copy of its points, and the page says so (it said "11251 points stored").</summary>
    [Fact]
    public async Task ALongRunSaysItsChartsDrawEveryNthStepAndAShortOneCountsItsPoints()
    {
        var (ctx, _, runId, _, _) = await NewContextAsync(researcher: false);
        await using var _ = ctx;
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.StartsWith("0 points ·", cut.Find("[data-testid=run-points-caption]").TextContent.Trim()), TimeSpan.FromSeconds(15));

        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
            await db.Database.ExecuteSqlRawAsync(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 45000) " +
                "INSERT INTO MetricPoints (RunId, Stage, Step, Time, ElapsedSeconds, Loss, LearningRate, UpdatesPerSecond, PromptsPerSecond, ProcessMemoryBytes) " +
                "SELECT {0}, 0, i, '2026-12-07 00:00:00', i, 1.0 / i, 0.0001, 1, 8, 1000 FROM n", runId);
        // 45,000 points are more than the page keeps (20,000): every 4th step's (11,250) and the first.
        var long_ = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        long_.WaitForAssertion(() => Assert.Equal("11,251 points drawn: every 4th step's up to step 45,000 (the CSV has every point) · drag across a chart to zoom, double-click to zoom out",
            long_.Find("[data-testid=run-points-caption]").TextContent.Trim()), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task EachCheckpointShowsTheHeldOutLossOfItsStepAndTheBestIsMarked()
    {
        var (ctx, _, runId, _, _) = await NewContextAsync(researcher: false);
        await using var _ = ctx;
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            // Step 10: (0.2 + 0.4) / 2 = 0.3; step 15 (no checkpoint): 0.1; step 20: (0.5 + 0.3) / 2 = 0.4.
            db.ValidationPoints.AddRange(
                new ValidationPoint { RunId = runId, Step = 10, Category = "text", VisionLoss = 0.2 },
                new ValidationPoint { RunId = runId, Step = 10, Category = "semantics", VisionLoss = 0.4 },
                new ValidationPoint { RunId = runId, Step = 15, Category = "text", VisionLoss = 0.1 },
                new ValidationPoint { RunId = runId, Step = 20, Category = "text", VisionLoss = 0.5 },
                new ValidationPoint { RunId = runId, Step = 20, Category = "semantics", VisionLoss = 0.3 });
            await db.SaveChangesAsync();
        }
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=checkpoint-heldout]").Count));
        var cells = cut.FindAll("[data-testid=checkpoint-heldout]").Select(c => c.TextContent.Trim()).ToList();
        Assert.StartsWith("0.4", cells[0]); // step 20, newest first
        Assert.DoesNotContain("best", cells[0]);
        Assert.StartsWith("0.3", cells[1]);
        Assert.EndsWith("best", cells[1]);
        Assert.Single(cut.FindAll("[data-testid=checkpoint-best]"));
    }

    [Fact]
    public async Task ACheckpointShowsItsFolderNameAndItsCopyButtonCopiesTheWholePathOrSaysItWhenTheBrowserRefuses()
    {
        var (ctx, _, runId, evaluated, fresh) = await NewContextAsync(researcher: false);
        await using var _ = ctx;
        string step20;
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
            step20 = (await db.Checkpoints.SingleAsync(c => c.Id == fresh)).Path;
        var copied = ctx.JSInterop.SetupVoid("navigator.clipboard.writeText", step20);
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=checkpoint-path]").Count));
        var cell = cut.FindAll("[data-testid=checkpoint-path]")[0]; // newest first: step 20
        Assert.Equal("step-20", cell.TextContent.Trim());
        Assert.Equal(step20, cell.QuerySelector("span[title]")!.GetAttribute("title"));

        var snackbar = ctx.Services.GetRequiredService<ISnackbar>();
        copied.SetVoidResult();
        cut.FindAll("[data-testid=checkpoint-copy-path]")[0].Click();
        Assert.Single(ctx.JSInterop.Invocations, i => i.Identifier == "navigator.clipboard.writeText" && (string)i.Arguments[0]! == step20);
        cut.WaitForAssertion(() => Assert.Contains(snackbar.ShownSnackbars, b => b.Message == $"Copied {step20}" && b.Severity == Severity.Info));

        // A browser that refuses (plain http away from localhost): the path is in the message, to select there.
        ctx.JSInterop.SetupVoid("navigator.clipboard.writeText", step20).SetException(new Microsoft.JSInterop.JSException("Clipboard API unavailable"));
        cut.FindAll("[data-testid=checkpoint-copy-path]")[0].Click();
        cut.WaitForAssertion(() => Assert.Contains(snackbar.ShownSnackbars, b => b.Severity == Severity.Warning && b.Message!.EndsWith($"The path: {step20}")));
    }

    [Fact]
    public async Task ACheckpointWhoseFilesAreGoneIsMarkedAndOffersOnlyDelete()
    {
        var (ctx, _, runId, evaluated, fresh) = await NewContextAsync(researcher: true);
        await using var _ = ctx;
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
            Directory.Delete((await db.Checkpoints.SingleAsync(c => c.Id == fresh)).Path); // by hand, outside the studio
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=checkpoint-evaluation]").Count));
        var rows = cut.FindAll("[data-testid=checkpoints-table] tbody tr");
        // Newest first: step 20's folder is gone, step 10's is there.
        Assert.NotNull(rows[0].QuerySelector("[data-testid=checkpoint-files-gone]"));
        Assert.Null(rows[0].QuerySelector("[data-testid=checkpoint-evaluate]"));
        Assert.Null(rows[0].QuerySelector("[aria-label='Open in Generate']"));
        Assert.NotNull(rows[0].QuerySelector("[aria-label='Delete checkpoint']"));
        Assert.Null(rows[1].QuerySelector("[data-testid=checkpoint-files-gone]"));
        Assert.NotNull(rows[1].QuerySelector("[data-testid=checkpoint-evaluate]"));
    }

    [Fact]
    public async Task ARunTheTrainerStoppedEarlySaysSoBesideItsProgress()
    {
        var (ctx, _, runId, _, _) = await NewContextAsync(researcher: false);
        await using var _ = ctx;
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => cut.Find("[data-testid=run-step]"));
        Assert.Empty(cut.FindAll("[data-testid=run-stopped-early]"));
        cut.Dispose();

        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            // Completed at step 20 of 40, the trainer's reason in the log.
            var row = await db.Runs.SingleAsync(r => r.Id == runId);
            (row.Step, row.TotalSteps) = (20, 40);
            db.RunEvents.Add(new RunEvent { RunId = runId, Kind = "StoppedEarly", Step = 20, Message = "stopped early at step 20: ... (validation.patience: 2)", Time = DateTime.UtcNow });
            await db.SaveChangesAsync();
        }
        var stopped = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        stopped.WaitForAssertion(() => Assert.Equal("stopped early (patience)", stopped.Find("[data-testid=run-stopped-early]").TextContent));
        Assert.Contains("stopped early at step 20: ... (validation.patience: 2)", stopped.Markup); // the reason, in the chip's tooltip and the log
    }

    [Fact]
    public async Task AQueuedRunOnAQueueNoOnlineWorkerServesSaysWhyItWaitsUntilOneDoes()
    {
        var (ctx, _, runId, _, _) = await NewContextAsync(researcher: false);
        await using var _ = ctx;
        var pulse = new PulseFeed();
        ctx.Services.AddSingleton(pulse);
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            var row = await db.Runs.FindAsync(runId);
            (row!.State, row.Queue, row.StartedAt, row.FinishedAt) = (RunState.Queued, "gpu-80g", null, null);
            await db.SaveChangesAsync();
        }
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal("queued", cut.Find("[data-testid=run-state]").TextContent.Trim()));
        Assert.Empty(cut.FindAll("[data-testid=run-unserved]")); // no pulse yet: the workers are not known

        var now = DateTime.UtcNow;
        StudioPulse Pulse(params WorkerInfo[] workers) => new(new StudioCounts(new Dictionary<RunState, int>(), workers.Length, 1, 0), workers, [], now);
        var web = new WorkerInfo("web:vm:1", ["default", "cpu"], 1, now, now, true);
        await pulse.PublishAsync(Pulse(web, new WorkerInfo("gpu-1", ["gpu-80g"], 1, now, now, Online: false)));
        cut.WaitForAssertion(() => Assert.Equal(WorkerInfo.Unserved("gpu-80g", [web]), cut.Find("[data-testid=run-unserved]").TextContent.Trim()),
            TimeSpan.FromSeconds(15));

        // The GPU worker comes online: the run will start, and the page says nothing more.
        await pulse.PublishAsync(Pulse(web, new WorkerInfo("gpu-1", ["gpu-80g"], 1, now, now, Online: true)));
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=run-unserved]")), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task TheStartAndFinishTimesFollowTheRunLive()
    {
        var (ctx, _, runId, _, _) = await NewContextAsync(researcher: false);
        await using var _ = ctx;
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            var row = await db.Runs.FindAsync(runId);
            (row!.State, row.StartedAt, row.FinishedAt) = (RunState.Queued, null, null);
            await db.SaveChangesAsync();
        }
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal("––", cut.Find("[data-testid=run-times]").TextContent.Trim()));
        var started = new DateTime(2026, 12, 5, 10, 11, 12, DateTimeKind.Utc);
        var run = new Run { Id = runId, Name = "small", ConfigYaml = "", State = RunState.Running, Step = 1, TotalSteps = 10, StartedAt = started };
        await ctx.Services.GetRequiredService<RunFeed>().PublishAsync(RunBatch.OfStatus(RunStatus.Of(run)));
        var local = started.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        cut.WaitForAssertion(() => Assert.Equal(local + "–", cut.Find("[data-testid=run-times]").TextContent.Trim()), TimeSpan.FromSeconds(15));
        (run.State, run.Step, run.FinishedAt) = (RunState.Completed, 10, started.AddSeconds(40));
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            // Stored before it is published, as the worker does (the page reads an ended run's row again).
            var row = await db.Runs.FindAsync(runId);
            (row!.State, row.Step, row.StartedAt, row.FinishedAt) = (run.State, run.Step, run.StartedAt, run.FinishedAt);
            await db.SaveChangesAsync();
        }
        await ctx.Services.GetRequiredService<RunFeed>().PublishAsync(RunBatch.OfStatus(RunStatus.Of(run)));
        var finished = started.AddSeconds(40).ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        cut.WaitForAssertion(() => Assert.Equal(local + finished, cut.Find("[data-testid=run-times]").TextContent.Trim()), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task ResearchersEvaluateACheckpointAndSeeItsScoresViewersOnlySeeThem()
    {
        var (ctx, jobs, runId, _, _) = await NewContextAsync(researcher: true);
        await using var _ = ctx;
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=checkpoint-evaluation]").Count));
        // Newest checkpoint first: step 20 (not evaluated), step 10 (evaluated).
        var cells = cut.FindAll("[data-testid=checkpoint-evaluation]");
        Assert.Equal("not evaluated", cells[0].TextContent.Trim()); // said, not a blank cell
        Assert.Contains("semantics 0.4 · text 0.125 · FD 12.5", cells[1].TextContent);
        Assert.Equal(2, cut.FindAll("[data-testid=checkpoint-evaluate]").Count);

        cut.FindAll("[data-testid=checkpoint-evaluate]")[0].Click();
        cut.WaitForAssertion(() => Assert.Contains("queued 0%", cut.FindAll("[data-testid=checkpoint-evaluation]")[0].TextContent));
        var (job, queue) = Assert.Single(jobs.Created);
        Assert.Equal(("EvaluationJob", "interactive_evaluations"), (job.Type.Name, queue));

        var (viewerCtx, viewerJobs, viewerRunId, _, _) = await NewContextAsync(researcher: false);
        await using var __ = viewerCtx;
        var viewer = viewerCtx.Render<RunDetail>(p => p.Add(c => c.Id, viewerRunId));
        viewer.WaitForAssertion(() => Assert.Contains("semantics 0.4", viewer.FindAll("[data-testid=checkpoint-evaluation]")[1].TextContent));
        Assert.Empty(viewer.FindAll("[data-testid=checkpoint-evaluate]"));
        Assert.Empty(viewerJobs.Created);
    }

    [Fact]
    public async Task ACheckpointMeasuredByTeacherAgreementShowsItsDifferenceAndIsCharted()
    {
        var (ctx, _, runId, _, fresh) = await NewContextAsync(researcher: false);
        await using var _ = ctx;
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            // A FLUX.1 teacher's run: no toy scores, only the difference to the teacher at the run's size.
            db.Evaluations.Add(new CheckpointEvaluation
            {
                RunId = runId, CheckpointId = fresh, Step = 20, Pipeline = "/models/flux-dev", Encoder = "run · step 20", SizeLabel = "base", Loss = "vision",
                State = EvaluationState.Completed, PromptsPerCategory = 10, Seeds = 1, Steps = 20, Guidance = 3.5, Resolution = 512, MaxSequenceLength = 77,
                TeacherDifference = 7.25,
            });
            await db.SaveChangesAsync();
        }
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal("|Δ| to teacher 7.25/255", cut.Find("[data-testid=checkpoint-agreement]").TextContent.Trim()), TimeSpan.FromSeconds(15));
        Assert.Contains("agreement at 512 px, 77 tokens", cut.Markup);
        // The step 10 checkpoint (a toy-world evaluation) keeps its scores.
        Assert.Contains("semantics 0.4", cut.FindAll("[data-testid=checkpoint-evaluation]")[1].TextContent);
        // The chart's first metric, the difference to the teacher, draws it.
        cut.WaitForAssertion(() => Assert.Equal(["step 20"],
            cut.FindAll("[data-testid=evaluations-over-training] [data-point]").Select(p => p.GetAttribute("data-label"))), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task TheCheckpointsTabChartsTheEvaluationsOverTrainingAndEvaluatesTheOthersAtOnce()
    {
        var (ctx, jobs, runId, _, _) = await NewContextAsync(researcher: true);
        await using var _ = ctx;
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=checkpoint-evaluation]").Count), TimeSpan.FromSeconds(15));
        // The step 10 checkpoint's evaluation has no difference to the teacher (the chart's first metric): nothing to draw.
        Assert.Empty(cut.FindAll("[data-testid=evaluations-over-training] [data-point]"));

        var metric = cut.FindComponents<MudSelect<string>>().Single(c => c.Instance.Label == "Evaluation over training");
        await cut.InvokeAsync(() => metric.Instance.ValueChanged.InvokeAsync("semantics"));
        cut.WaitForAssertion(() => Assert.Equal(["step 10"],
            cut.FindAll("[data-testid=evaluations-over-training] [data-point]").Select(p => p.GetAttribute("data-label"))), TimeSpan.FromSeconds(15));

        // One checkpoint has no evaluation yet: one click queues it.
        Assert.Equal("Evaluate 1 unevaluated checkpoint", cut.Find("[data-testid=evaluate-all]").TextContent.Trim());
        cut.Find("[data-testid=evaluate-all]").Click();
        cut.WaitForAssertion(() => Assert.Single(jobs.Created), TimeSpan.FromSeconds(15));
        cut.WaitForAssertion(() => Assert.True(cut.Find("[data-testid=evaluate-all]").HasAttribute("disabled")), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task TheCheckpointsTabSaysWhenTheRunEvaluatesEachCheckpointOrItsLast()
    {
        var (ctx, _, runId, _, _) = await NewContextAsync(researcher: true);
        await using var _ = ctx;
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=checkpoint-evaluation]").Count), TimeSpan.FromSeconds(15));
        Assert.Empty(cut.FindAll("[data-testid=evaluates-each-checkpoint], [data-testid=evaluates-when-done]"));

        // With the settings it asked for (none: the defaults).
        foreach (var (each, whenDone, settings, shown) in new[]
        {
            (true, true, """{"Split":"heldout","PromptsPerCategory":4,"Seeds":1,"Steps":8,"Guidance":3.5}""", "each checkpoint evaluated as it is written (heldout · 4/category · 1 seed(s) · 8 steps · guidance 3.5)"),
            (false, true, null, "last checkpoint evaluated when the run completes (heldout · 10/category · 1 seed(s) · 20 steps · guidance 3.5)"),
        })
        {
            await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
            {
                var row = await db.Runs.FindAsync(runId);
                (row!.EvaluateEachCheckpoint, row.EvaluateWhenDone, row.EvaluationSettingsJson) = (each, whenDone, settings);
                await db.SaveChangesAsync();
            }
            var page = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
            page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=evaluates-each-checkpoint], [data-testid=evaluates-when-done]")), TimeSpan.FromSeconds(15));
            Assert.Equal(shown, page.Find("[data-testid=evaluates-each-checkpoint], [data-testid=evaluates-when-done]").TextContent.Trim());
        }
    }

    [Fact]
    public async Task AForksConfigurationTabShowsWhatChangedFromItsParent()
    {
        var (ctx, _, parentId, _, _) = await NewContextAsync(researcher: false);
        await using var _ = ctx;
        var config = RunPresets.Find("toy-study-small").Create();
        config.Optimizer.Lr = 3e-4;
        int forkId;
        await using (var db = ctx.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>().CreateDbContext())
        {
            var fork = new Run { Name = "small, lr 3e-4", State = RunState.Queued, ConfigYaml = config.ToYaml(), ForkedFromRunId = parentId };
            db.Runs.Add(fork);
            await db.SaveChangesAsync();
            forkId = fork.Id;
        }
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, forkId));
        cut.WaitForAssertion(() => Assert.Contains("0.0003", Assert.Single(cut.FindAll("[data-testid=config-diff] [data-change=Inserted]")).TextContent),
            TimeSpan.FromSeconds(15));
        Assert.Contains($"Changes from run {parentId}", cut.Markup);

        var parent = ctx.Render<RunDetail>(p => p.Add(c => c.Id, parentId));
        parent.WaitForAssertion(() => Assert.Single(parent.FindAll("[data-testid=run-config]")), TimeSpan.FromSeconds(15));
        Assert.Empty(parent.FindAll("[data-testid=config-diff]")); // not a fork
    }

    [Fact]
    public async Task ResearchersRenameARunAndWriteItsNotesAViewerOnlyReadsThem()
    {
        var (ctx, _, runId, _, _) = await NewContextAsync(researcher: true);
        await using var _ = ctx;
        var cut = ctx.Render<RunDetail>(p => p.Add(c => c.Id, runId));
        // Fully loaded (the checkpoints too), so no later render replaces the buttons under the clicks.
        cut.WaitForAssertion(() => Assert.Equal(2, cut.FindAll("[data-testid=checkpoint-evaluation]").Count), TimeSpan.FromSeconds(15));
        Assert.Equal("No notes.", cut.Find("[data-testid=run-notes]").TextContent);
        Assert.Equal($"/runs/new?from={runId}", cut.Find("[data-testid=run-copy]").GetAttribute("href"));

        cut.Find("[data-testid=run-edit]").Click();
        cut.WaitForElement("[data-testid=run-edit-name] input, input[data-testid=run-edit-name]", TimeSpan.FromSeconds(15)).Change(" ");
        cut.Find("[data-testid=run-edit-save]").Click();
        cut.WaitForAssertion(() => Assert.Contains("name: a run needs a name", cut.Find("[data-testid=run-edit-error]").TextContent));

        cut.Find("[data-testid=run-edit-name] input, input[data-testid=run-edit-name]").Change("small, lr 1e-3");
        cut.Find("[data-testid=run-edit-notes] textarea, textarea[data-testid=run-edit-notes]").Change("Same as run 1 with 10x the learning rate.\nLoss flat after 2k.");
        cut.Find("[data-testid=run-edit-save]").Click();
        cut.WaitForAssertion(() => Assert.Equal("Same as run 1 with 10x the learning rate.\nLoss flat after 2k.", cut.Find("[data-testid=run-notes]").TextContent));
        Assert.Contains("small, lr 1e-3", cut.Find("h4").TextContent);

        var (viewerCtx, _, viewerRunId, _, _) = await NewContextAsync(researcher: false);
        await using var __ = viewerCtx;
        var viewer = viewerCtx.Render<RunDetail>(p => p.Add(c => c.Id, viewerRunId));
        viewer.WaitForAssertion(() => Assert.Single(viewer.FindAll("[data-testid=run-notes]")));
        Assert.Empty(viewer.FindAll("[data-testid=run-edit]"));
    }
}
