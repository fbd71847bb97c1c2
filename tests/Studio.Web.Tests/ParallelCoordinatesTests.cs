using System.Globalization;
using Bunit;
using MudBlazor.Services;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Ml.Distillation;
using Studio.Web.Components.Charts;
using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

/// <summary>Compare's sweep chart: an axis per differing setting and one for the result, a coloured line per run.</summary>
public class ParallelCoordinatesTests
{
    static BunitContext NewContext()
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        return ctx;
    }

    /// <summary>The (x, y) of each point of a drawn line.</summary>
    static List<(double X, double Y)> Points(AngleSharp.Dom.IElement line) => line.GetAttribute("points")!.Split(' ')
        .Select(p => p.Split(',')).Select(p => (double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture))).ToList();

    [Fact]
    public async Task NumbersSpanningAFactorOf20AreALogAxisWordsAreCategoriesAndLinesAreColouredByTheResult()
    {
        await using var ctx = NewContext();
        IRenderedComponent<ParallelCoordinates> Render(bool dark) => ctx.Render<ParallelCoordinates>(p => p
            .AddCascadingValue("DarkTheme", dark)
            .Add(c => c.Axes, ["optimizer.lr", "student.preset", "seed", "loss"])
            .Add(c => c.Lines, [
                new ParallelCoordinates.Line("a", ["1e-4", "toy-small", "1", "0.5"]),
                new ParallelCoordinates.Line("b", ["1e-3", "toy-base", "2", "0.1"]),
                new ParallelCoordinates.Line("c", ["1e-2", "toy-small", "3", "0.3"]),
                new ParallelCoordinates.Line("not yet validated", ["1e-2", "toy-base", "4", ""]),
            ]));
        var cut = Render(dark: false);

        Assert.Equal(["log", "categories", "linear", "linear"], cut.FindAll("[data-axis]").Select(a => a.GetAttribute("data-kind")));
        var lines = cut.FindAll("polyline[data-run]");
        Assert.Equal(["a", "b", "c"], lines.Select(l => l.GetAttribute("data-run")));
        var (a, b, c) = (Points(lines[0]), Points(lines[1]), Points(lines[2]));
        // SVG y grows downwards: the lowest value is at the bottom of its axis.
        Assert.True(a[0].Y > b[0].Y && b[0].Y > c[0].Y);
        Assert.Equal((a[0].Y + c[0].Y) / 2, b[0].Y, 1); // 1e-3 is half way between 1e-4 and 1e-2 on a log axis
        Assert.Equal(a[1].Y, c[1].Y); // both toy-small
        Assert.Equal((a[2].Y + c[2].Y) / 2, b[2].Y, 1); // seed 2 is half way between 1 and 3
        // Blue for the lowest result, orange for the highest, between for the others.
        Assert.Equal(["#ff9800", "#3f51b5"], new[] { lines[0], lines[1] }.Select(l => l.GetAttribute("stroke")));
        Assert.DoesNotContain(lines[2].GetAttribute("stroke"), new[] { "#ff9800", "#3f51b5" });
        // On the dark theme the lowest is the lighter indigo that stands out on the dark surface.
        Assert.Equal(["#ff9800", "#7986cb"], Render(dark: true).FindAll("polyline[data-run]").Take(2).Select(l => l.GetAttribute("stroke")));
    }

    [Fact]
    public async Task TheSettingsTableDrawsItsRunsThroughTheirDifferingSettingsToTheirBestHeldOutLoss()
    {
        await using var ctx = NewContext();
        Run Toy(int id, double lr)
        {
            var config = RunPresets.Find("toy").Create();
            config.Optimizer.Lr = lr;
            return new Run { Id = id, Name = $"run {id}", ConfigYaml = config.ToYaml(), State = RunState.Completed, Step = 40, TotalSteps = 40 };
        }
        RunSeries Validated(double loss)
        {
            var series = new RunSeries();
            series.MergeValidation([new ValidationPoint { Step = 20, Category = "text", VisionLoss = loss }]);
            return series;
        }
        var runs = new[] { Toy(1, 1e-4), Toy(2, 3e-4), Toy(3, 1e-3) };
        runs[1].Step = 20; // stopped by the trainer at step 20 of 40
        var cut = ctx.Render<SettingsTable>(p => p
            .Add(t => t.Runs, runs)
            .Add(t => t.Series, new Dictionary<int, RunSeries> { [1] = Validated(0.2), [2] = Validated(0.1) })
            .Add(t => t.StopReasons, new Dictionary<int, string> { [2] = "stopped at step 20 (validation.prune: median): its best held-out vision loss (0.1) is worse" }));

        var chart = cut.Find("[data-testid=settings-parallel]");
        Assert.Equal(["optimizer.lr", "best held-out loss"], chart.QuerySelectorAll("[data-axis]").Select(a => a.GetAttribute("data-axis")));
        Assert.Equal([("1 · run 1", "0.2"), ("2 · run 2", "0.1")],
            chart.QuerySelectorAll("polyline[data-run]").Select(l => (l.GetAttribute("data-run"), l.GetAttribute("data-result"))));
        Assert.Contains("1 run has no held-out loss yet, so not drawn.", cut.Markup);
        var stopped = Assert.Single(cut.FindAll("[data-testid=settings-stopped-early]"));
        Assert.Contains("20 / 40", stopped.Closest("td")!.TextContent);
        Assert.Equal("pruned (median)", stopped.TextContent);

        // One validated run is no comparison: no chart.
        var single = ctx.Render<SettingsTable>(p => p
            .Add(t => t.Runs, runs)
            .Add(t => t.Series, new Dictionary<int, RunSeries> { [1] = Validated(0.2) }));
        Assert.Empty(single.FindAll("[data-testid=settings-parallel]"));
    }
}
