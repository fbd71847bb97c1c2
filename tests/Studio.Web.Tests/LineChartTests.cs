using System.Globalization;
using Bunit;
using Microsoft.AspNetCore.Components;
using MudBlazor.Services;
using Studio.Core.Charts;
using Studio.Core.Evaluations;
using Studio.Web.Components.Charts;

namespace Studio.Web.Tests;

public class LineChartTests
{
    static BunitContext NewContext()
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        return ctx;
    }

    static ChartPoint[] Decaying(int n) => Enumerable.Range(1, n).Select(i => new ChartPoint(i, 1.0 / i + (i % 7) * 1e-4)).ToArray();

    static int Count(IRenderedComponent<LineChart> cut, string kind) =>
        int.Parse(cut.Find($"path[data-kind={kind}]").GetAttribute("data-count")!, CultureInfo.InvariantCulture);

    /// <summary>WCAG 2 contrast ratio of two #rrggbb colours.</summary>
    static double Contrast(string a, string b)
    {
        static double Luminance(string hex)
        {
            double Channel(int i)
            {
                var c = Convert.ToInt32(hex.Substring(1 + 2 * i, 2), 16) / 255.0;
                return c <= 0.03928 ? c / 12.92 : Math.Pow((c + 0.055) / 1.055, 2.4);
            }
            return 0.2126 * Channel(0) + 0.7152 * Channel(1) + 0.0722 * Channel(2);
        }
        var (x, y) = (Luminance(a), Luminance(b));
        return (Math.Max(x, y) + 0.05) / (Math.Min(x, y) + 0.05);
    }

    /// <summary>
    /// The browser says how wide the chart is shown (chart-zoom.js's ResizeObserver): it is drawn again at that width,
    /// one unit a pixel, its plot's right edge where the zoom gesture reads it, with fewer ticks in a narrow one.
    /// </summary>
    [Fact]
    public async Task TheChartIsDrawnAtTheWidthItIsShownAt()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("loss", Decaying(400))]));
        var svg = () => cut.Find("svg.studio-chart-svg");
        Assert.Equal(("0 0 800 240", "786"), (svg().GetAttribute("viewBox"), svg().GetAttribute("data-plot-right")));
        var wide = cut.FindAll("[data-x-tick]").Count;
        await cut.InvokeAsync(() => cut.Instance.Resized(420));
        Assert.Equal(("0 0 420 240", "406"), (svg().GetAttribute("viewBox"), svg().GetAttribute("data-plot-right")));
        Assert.True(cut.FindAll("[data-x-tick]").Count < wide);
        Assert.All(cut.FindAll("[data-x-tick]"), t => Assert.True(double.Parse(t.GetAttribute("x")!, CultureInfo.InvariantCulture) <= 406));
    }

    /// <summary>A lone validation at step 50: the step axis reads 49, 50, 51, not 49.5 and 50.5 between them.</summary>
    [Fact]
    public async Task AWholeNumberAxisGetsNoTickBetweenTwoWholeNumbers()
    {
        await using var ctx = NewContext();
        string[] Ticks(params ChartPoint[] points) => ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("held-out", points)]))
            .FindAll("[data-x-tick]").Select(t => t.TextContent.Trim()).ToArray();
        Assert.Equal(["49", "50", "51"], Ticks(new ChartPoint(50, 0.3)));
        Assert.Equal(["49", "50", "51"], Ticks(new ChartPoint(50, 0.3), new ChartPoint(50, 0.2)));
        // A fractional axis (hours, seconds) keeps its ticks between whole numbers.
        Assert.Contains("0.5", Ticks(new ChartPoint(0, 0.3), new ChartPoint(1.5, 0.2)));
    }

    [Fact]
    public async Task TheDarkThemeDrawsEveryLineInAColourThatStandsOutOnItsSurface()
    {
        // MudBlazor's dark surface and background; the light theme's white.
        foreach (var colour in ChartTicks.DarkPalette)
        {
            Assert.True(Contrast(colour, "#373740") >= 3, $"{colour} on the dark surface: {Contrast(colour, "#373740"):0.00}");
            Assert.True(Contrast(colour, "#32333d") >= 3, $"{colour} on the dark background");
            Assert.True(Contrast(colour, "#ffffff") >= 2, $"{colour} on a saved figure's white");
        }
        Assert.Equal(ChartTicks.Palette.Length, ChartTicks.DarkPalette.Length);
        Assert.True(Contrast(ChartTicks.Palette[0], "#373740") < 3); // why the dark theme needs its own

        await using var ctx = NewContext();
        ChartSeries[] series = [new("a", Decaying(10)), new("b", Decaying(10)), new("teacher", Decaying(10), "currentColor")];
        string[] Strokes(bool dark) => ctx.Render<LineChart>(p => p.AddCascadingValue("DarkTheme", dark).Add(c => c.Series, series))
            .FindAll("path[data-kind=raw]").Select(e => e.GetAttribute("stroke")!).ToArray();
        Assert.Equal([ChartTicks.Palette[0], ChartTicks.Palette[1], "currentColor"], Strokes(dark: false));
        Assert.Equal([ChartTicks.DarkPalette[0], ChartTicks.DarkPalette[1], "currentColor"], Strokes(dark: true));

        // A chart drawn before the page knew the theme (MainLayout reads it from the browser after the first render)
        // takes the dark shades when it changes, also while its data (Version) stays the same.
        void Theme(ComponentParameterCollectionBuilder<CascadingValue<bool>> p, bool dark) => p.Add(c => c.Name, "DarkTheme").Add(c => c.Value, dark)
            .AddChildContent<LineChart>(c => c.Add(x => x.Series, series).Add(x => x.Version, 7));
        var wrapped = ctx.Render<CascadingValue<bool>>(p => Theme(p, dark: false));
        Assert.Equal(ChartTicks.Palette[0], wrapped.Find("path[data-kind=raw]").GetAttribute("stroke"));
        wrapped.Render(p => Theme(p, dark: true));
        Assert.Equal(ChartTicks.DarkPalette[0], wrapped.Find("path[data-kind=raw]").GetAttribute("stroke"));

        // The scaling chart's reference (the teacher) follows the text colour, so it shows on either theme.
        var scatter = ctx.Render<ScatterChart>(p => p.AddCascadingValue("DarkTheme", true)
            .Add(c => c.Points, [new ScatterPoint(1e6, 0.5, "a", "g")]).Add(c => c.References, [new ReferenceLine("teacher", 0.9)]));
        Assert.Equal("currentColor", scatter.Find("line[data-reference]").GetAttribute("stroke"));
        Assert.Contains(ChartTicks.DarkPalette[0], scatter.Markup);
    }

    [Fact]
    public async Task AHundredThousandPointsAreDrawnAsAtMostMaxPointsAndShortSeriesWhole()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("loss", Decaying(100_000))]).Add(c => c.MaxPoints, 2000));
        Assert.Equal(2000, Count(cut, "raw"));
        Assert.Empty(cut.FindAll("path[data-kind=smoothed]"));
        // The path really has that many vertices.
        Assert.Equal(2000, cut.Find("path[data-kind=raw]").GetAttribute("d")!.Count(ch => ch is 'M' or 'L'));

        var small = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("loss", Decaying(50))]));
        Assert.Equal(50, Count(small, "raw"));
    }

    [Fact]
    public async Task SmoothingDrawsTheEmaOverTheRawSeries()
    {
        await using var ctx = NewContext();
        // Alternating 0 and 2: the raw line zig-zags; a 0.9 EMA settles near 1.
        var points = Enumerable.Range(0, 400).Select(i => new ChartPoint(i, i % 2 == 0 ? 0 : 2)).ToArray();
        var cut = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("loss", points)]).Add(c => c.Smoothing, 0.9));
        Assert.Equal(400, Count(cut, "raw"));
        Assert.Equal("0.25", cut.Find("path[data-kind=raw]").GetAttribute("opacity"));
        var last = double.Parse(cut.Find("path[data-kind=smoothed]").GetAttribute("data-last")!, CultureInfo.InvariantCulture);
        Assert.Equal(SeriesMath.Ema(points, 0.9)[^1].Y, last, 1);
        Assert.InRange(last, 0.8, 1.2);
    }

    [Fact]
    public async Task LogScaleLabelsDecadesAndLeavesOutNonPositiveValues()
    {
        await using var ctx = NewContext();
        ChartPoint[] points = [new(0, 0), new(1, 1e-3), new(2, 1e-2), new(3, 1e-1), new(4, 1), new(5, -1)];
        var cut = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("loss", points)]).Add(c => c.LogY, true));
        Assert.Equal(4, Count(cut, "raw"));
        Assert.Equal("true", cut.Find("svg.studio-chart-svg").GetAttribute("data-log"));
        var labels = cut.FindAll("[data-y-tick]").Select(t => t.TextContent).ToList();
        Assert.Equal(["1e-3", "1e-2", "1e-1", "1e0"], labels);

        var linear = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("loss", points)]));
        Assert.Equal(6, int.Parse(linear.Find("path[data-kind=raw]").GetAttribute("data-count")!));
    }

    [Fact]
    public async Task ZoomDrawsOnlyTheChosenRangeAndResetRestoresIt()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("loss", Decaying(1000))]).Add(c => c.MaxPoints, 5000));
        Assert.Equal(1000, Count(cut, "raw"));
        await cut.InvokeAsync(() => cut.Instance.ZoomTo(0.5, 0.75));
        // The x range 1..1000 -> [500.5, 750.25]: points 501..750.
        Assert.Equal(250, Count(cut, "raw"));
        Assert.Equal((500.5, 750.25), cut.Instance.VisibleX);
        cut.Find("[data-testid=chart-reset-zoom]").Click();
        Assert.Equal(1000, Count(cut, "raw"));
        Assert.Empty(cut.FindAll("[data-testid=chart-reset-zoom]"));
    }

    [Fact]
    public async Task ASeriesOfOnePointIsDrawnAsAMarkInTheMiddle()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("semantics", [new ChartPoint(200, 0.5)])]));
        var point = cut.Find("circle[data-kind=point]");
        Assert.Equal("semantics", point.GetAttribute("data-series"));
        // x from 64 to 800 - 14: the middle is 425.
        Assert.Equal("425", point.GetAttribute("cx"));
        var two = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("semantics", [new ChartPoint(200, 0.5), new ChartPoint(400, 0.4)])]));
        Assert.Empty(two.FindAll("circle"));
    }

    [Fact]
    public async Task AnEmptyChartSaysSo()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<LineChart>(p => p.Add(c => c.Series, []).Add(c => c.EmptyText, "No data yet."));
        Assert.Contains("No data yet.", cut.Markup);
        Assert.Empty(cut.FindAll("path"));
    }

    [Fact]
    public async Task AChartWithDataOffersToBeSavedUnderAFileNameFromItsTitle()
    {
        await using var ctx = NewContext();
        var empty = ctx.Render<LineChart>(p => p.Add(c => c.Series, []).Add(c => c.TestId, "chart-loss"));
        Assert.Empty(empty.FindAll("[data-testid=chart-loss-export]"));
        var cut = ctx.Render<LineChart>(p => p.Add(c => c.Series, [new ChartSeries("loss", Decaying(10))]).Add(c => c.Title, "Loss by prompt category").Add(c => c.TestId, "chart-loss"));
        Assert.Single(cut.FindAll("[data-testid=chart-loss-export]"));
        // The exporter finds the chart's own SVG and title by these marks.
        Assert.Single(cut.FindAll("[data-chart-export] > svg"));
        Assert.Equal("Loss by prompt category", cut.Find("[data-chart-title]").TextContent.Trim());

        Assert.Equal("loss-by-prompt-category", ChartExport.FileName("Loss by prompt category"));
        Assert.Equal("difference-to-the-teacher-s-images-mean-255-lower-is-better", ChartExport.FileName("Difference to the teacher's images (mean |Δ| /255, lower is better)"));
        Assert.Equal("chart", ChartExport.FileName(null));
        Assert.Equal("chart", ChartExport.FileName(" |Δ| "));
    }
}
