using Bunit;
using MudBlazor;
using MudBlazor.Services;
using Studio.Core.Data;
using Studio.Web.Components.Inputs;
using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

/// <summary>
/// Compare's run picker: a search that adds runs (it was a list of every run, which took 2.5 s to open with 2,183 runs
/// and could not be searched) and the chosen runs as chips to remove.
/// </summary>
public class RunPickerTests
{
    static readonly List<Run> ManyRuns = Enumerable.Range(1, 3000).Reverse()
        .Select(i => new Run { Id = i, Name = $"sweep · lr={i}", Group = i % 2 == 0 ? "even" : "odd", Notes = i == 1234 ? "the Baseline" : null, ConfigYaml = "" })
        .ToList();

    static (BunitContext Context, IRenderedComponent<RunPicker> Cut, List<IReadOnlyCollection<int>> Changes) Render(params int[] selected)
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        ctx.Render<MudPopoverProvider>();
        var changes = new List<IReadOnlyCollection<int>>();
        var cut = ctx.Render<RunPicker>(p => p.Add(c => c.Runs, ManyRuns).Add(c => c.Selected, selected)
            .Add(c => c.SelectedChanged, (IReadOnlyCollection<int> ids) => changes.Add(ids)));
        return (ctx, cut, changes);
    }

    static async Task<List<int>> Suggest(IRenderedComponent<RunPicker> cut, string text)
    {
        var search = cut.FindComponent<MudAutocomplete<SearchPicker<int>.Option>>().Instance.SearchFunc ?? throw new InvalidOperationException("the picker has no search");
        var found = await (search(text, CancellationToken.None) ?? throw new InvalidOperationException("no search task")) ?? [];
        return found.Select(o => o.Key).ToList();
    }

    [Fact]
    public async Task TheSearchFindsRunsAsTheRunsPageDoesAndLeavesOutThoseChosen()
    {
        var (ctx, cut, _) = Render(2999);
        await using var _ = ctx;
        // Nothing typed: the newest 50, less the one chosen.
        Assert.Equal([3000, .. Enumerable.Range(2950, 49).Reverse()], await Suggest(cut, "")); // 3000, 2998, ..., 2950
        Assert.Equal([1234], await Suggest(cut, "#1234"));
        Assert.Equal([1234], await Suggest(cut, "baseline")); // notes, any case
        Assert.Equal([1299, 1298], (await Suggest(cut, "lr=129")).Take(2)); // a part of the name
        Assert.DoesNotContain(2999, await Suggest(cut, "2999"));
        Assert.Empty(await Suggest(cut, "nothing like it"));
    }

    [Fact]
    public async Task ARunPickedIsAddedAndAChipsCloseRemovesIt()
    {
        var (ctx, cut, changes) = Render(5, 6);
        await using var _ = ctx;
        Assert.Equal(["5 · sweep · lr=5", "6 · sweep · lr=6"], cut.FindAll("[data-testid=run-picker-chip]").Select(c => c.TextContent.Trim()));

        await cut.InvokeAsync(() => cut.FindComponent<MudAutocomplete<SearchPicker<int>.Option>>().Instance.ValueChanged.InvokeAsync(new SearchPicker<int>.Option(1234, "1234 · sweep · lr=1234")));
        Assert.Equal([5, 6, 1234], changes[^1]);

        await cut.InvokeAsync(() => cut.FindComponents<MudChip<string>>()[0].Instance.OnClose.InvokeAsync(cut.FindComponents<MudChip<string>>()[0].Instance));
        Assert.Equal([6], changes[^1]);

        cut.Find("[data-testid=run-picker-clear]").Click();
        Assert.Empty(changes[^1]);
    }

    [Fact]
    public async Task AHundredRunsShowTwelveChipsAndSayHowManyMore()
    {
        var (ctx, cut, _) = Render([.. Enumerable.Range(1, 100)]);
        await using var _ = ctx;
        Assert.Equal(12, cut.FindAll("[data-testid=run-picker-chip]").Count);
        Assert.Equal("and 88 more", cut.Find("[data-testid=run-picker-more]").TextContent.Trim());
    }
}
