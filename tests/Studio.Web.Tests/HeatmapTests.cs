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
    }
}
