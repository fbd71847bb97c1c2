using System.Text.RegularExpressions;
using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Rendering;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MudBlazor;
using MudBlazor.Services;
using Studio.Tests;
using Studio.Web.Components.Layout;

namespace Studio.Web.Tests;

/// <summary>
/// A pushed update that fails on a page is logged and said in one warning; the page keeps what it shows and applies the
/// next update (LiveComponent). Every component applies pushed data that way, never through a discarded InvokeAsync.
/// </summary>
public class LiveComponentTests
{
    /// <summary>A page with a count that pushed updates change.</summary>
    sealed class Probe : LiveComponent
    {
        int _count;
        public void Push(Func<Task> apply) => Live(apply);
        public Task Show(int count)
        {
            _count = count;
            StateHasChanged();
            return Task.CompletedTask;
        }

        protected override void BuildRenderTree(RenderTreeBuilder builder)
        {
            builder.OpenElement(0, "span");
            builder.AddContent(1, $"count {_count}");
            builder.CloseElement();
        }
    }

    sealed class RecordingLogger : ILogger<LiveComponent>
    {
        public List<(LogLevel Level, string Message, Exception? Error)> Entries { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries) Entries.Add((logLevel, formatter(state, exception), exception));
        }
    }

    [Fact]
    public async Task AFailingUpdateIsLoggedAndWarnedOnceAndTheNextUpdateIsApplied()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var logger = new RecordingLogger();
        ctx.Services.AddSingleton<ILogger<LiveComponent>>(logger);
        var providers = ctx.Render<MudSnackbarProvider>(); // where the warning and its action are drawn
        var cut = ctx.Render<Probe>();
        var snackbar = ctx.Services.GetRequiredService<ISnackbar>();
        var probe = cut.Instance;

        // From another thread, as a feed calls its subscribers.
        await Task.Run(() => probe.Push(() => probe.Show(1)));
        cut.WaitForAssertion(() => Assert.Equal("count 1", cut.Find("span").TextContent), TimeSpan.FromSeconds(15));

        await Task.Run(() => probe.Push(() => throw new InvalidOperationException("database is locked")));
        await Task.Run(() => probe.Push(async () => { await Task.Yield(); throw new TimeoutException("timed out reading run 4"); }));
        cut.WaitForAssertion(() => Assert.Equal(2, logger.Entries.Count), TimeSpan.FromSeconds(15));
        Assert.All(logger.Entries, e => Assert.Equal((LogLevel.Warning, "Probe: a live update failed"), (e.Level, e.Message)));
        Assert.Equal(["database is locked", "timed out reading run 4"], logger.Entries.Select(e => e.Error!.Message));
        var warning = Assert.Single(snackbar.ShownSnackbars);
        Assert.Equal(Severity.Warning, warning.Severity);
        Assert.StartsWith("A live update could not be shown (database is locked). The page keeps what it showed", warning.Message);
        Assert.Equal("count 1", cut.Find("span").TextContent);
        // Its Reload loads the page afresh.
        var navigation = ctx.Services.GetRequiredService<Bunit.TestDoubles.BunitNavigationManager>();
        providers.WaitForAssertion(() => Assert.Single(providers.FindAll(".mud-snackbar button"), b => b.TextContent.Trim() == "Reload"), TimeSpan.FromSeconds(15));
        // Found and clicked in one dispatch: the snackbar re-renders as it shows (its handler ids change between).
        await providers.InvokeAsync(() => providers.FindAll(".mud-snackbar button").Single(b => b.TextContent.Trim() == "Reload").ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs()));
        Assert.True(navigation.History.First().Options.ForceLoad);

        await Task.Run(() => probe.Push(() => probe.Show(2)));
        cut.WaitForAssertion(() => Assert.Equal("count 2", cut.Find("span").TextContent), TimeSpan.FromSeconds(15));
    }

    static readonly Regex DiscardedInvoke = new(@"_\s*=\s*InvokeAsync\s*\(");

    [Fact]
    public void NoComponentDiscardsTheTaskOfInvokeAsync()
    {
        var folder = Path.Combine(RepoRoot.Folder, "src", "Studio.Web", "Components");
        var hits = Directory.EnumerateFiles(folder, "*.razor", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories))
            .SelectMany(f => File.ReadAllLines(f).Select((l, i) => (File: Path.GetRelativePath(folder, f), Line: i + 1, Text: l.Trim())))
            .Where(l => DiscardedInvoke.IsMatch(l.Text) && l.File != Path.Combine("Layout", "LiveComponent.cs")).ToList(); // the one that catches
        Assert.True(hits.Count == 0, "a failure there would be lost: use LiveComponent.Live: " + string.Join("; ", hits.Select(h => $"{h.File}:{h.Line} {h.Text}")));
        Assert.Matches(DiscardedInvoke, "_ = InvokeAsync(() => OnGeneration(g));");
    }
}
