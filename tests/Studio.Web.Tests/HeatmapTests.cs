using Bunit;
using MudBlazor.Services;
using Studio.Core.Charts;
using Studio.Web.Components.Charts;

namespace Studio.Web.Tests;

public class HeatmapTests
{
    [Fact]
    public async Task RowsKeepTheGridsOrderAndTheCaptionNamesTheQuantityAndItsRange()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var grid = new HeatmapGrid(["embedding", "block 2", "block 10"], [(1, 2), (3, 4)], new double?[,] { { 2, 5 }, { 2, null }, { 6, 1 } });

        var cut = ctx.Render<Heatmap>(p => p.Add(h => h.Grid, grid).Add(h => h.Quantity, "gradient norm").Add(h => h.TestId, "heat"));

        Assert.Equal(["embedding", "block 2", "block 10"], cut.FindAll("svg > text").Take(3).Select(t => t.TextContent));
        Assert.Contains("Colour: log gradient norm, from 1 (dark) to 6 (bright).", cut.Markup);
        var titles = cut.FindAll("rect title").Select(t => t.TextContent).ToList();
        Assert.Equal(["embedding, steps 1–2: 2", "embedding, steps 3–4: 5", "block 2, steps 1–2: 2", "block 2, steps 3–4: no data", "block 10, steps 1–2: 6", "block 10, steps 3–4: 1"], titles);
        // The loss heatmap's caption by default.
        Assert.Contains("Colour: log loss", ctx.Render<Heatmap>(p => p.Add(h => h.Grid, grid)).Markup);

        // Drawn at the width the browser shows it (chart-zoom.js's observeWidth): its cells fill that width, the last
        // step's label at its right edge.
        Assert.StartsWith("0 0 800 ", cut.Find("svg.studio-heatmap-svg").GetAttribute("viewBox"));
        await cut.InvokeAsync(() => cut.Instance.Resized(500));
        Assert.StartsWith("0 0 500 ", cut.Find("svg.studio-heatmap-svg").GetAttribute("viewBox"));
        Assert.Equal(["90", "295"], cut.FindAll("svg.studio-heatmap-svg rect").Take(2).Select(r => r.GetAttribute("x")));
        Assert.Equal("500", cut.FindAll("svg.studio-heatmap-svg > text").Last().GetAttribute("x"));
    }
}
