using Bunit;
using Bunit.TestDoubles;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Rendering;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Web.Components.Layout;

namespace Studio.Web.Tests;

/// <summary>
/// A page's unexpected exception (its data could not be loaded, a button's action failed) shows an error panel with the
/// message and a way on, instead of ending the circuit and leaving a page that no longer answers.
/// </summary>
public class PageErrorBoundaryTests
{
    /// <summary>A page whose loading fails while <see cref="Failing"/> says so, with a button whose action always fails.</summary>
    sealed class FlakyPage : ComponentBase
    {
        public static bool Failing;

        protected override void OnInitialized()
        {
            if (Failing) throw new InvalidOperationException("the studio's database could not be reached");
        }

        protected override void BuildRenderTree(RenderTreeBuilder builder)
        {
            builder.OpenElement(0, "button");
            builder.AddAttribute(1, "data-testid", "flaky-action");
            builder.AddAttribute(2, "onclick", EventCallback.Factory.Create<MouseEventArgs>(this, () => throw new IOException("disk full while saving")));
            builder.AddContent(3, "Save");
            builder.CloseElement();
        }
    }

    static BunitContext NewContext()
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        return ctx;
    }

    [Fact]
    public async Task AFailingPageShowsItsErrorAndTryAgainRendersItAfresh()
    {
        await using var ctx = NewContext();
        FlakyPage.Failing = true;
        var cut = ctx.Render<PageErrorBoundary>(p => p.AddChildContent<FlakyPage>());
        Assert.Equal("the studio's database could not be reached", cut.Find("[data-testid=page-error-message]").TextContent);
        Assert.Empty(cut.FindAll("[data-testid=flaky-action]"));

        // The database is back: Try again renders the page anew.
        FlakyPage.Failing = false;
        await cut.Find("[data-testid=page-error-retry] button, button[data-testid=page-error-retry]").ClickAsync(new MouseEventArgs());
        Assert.Empty(cut.FindAll("[data-testid=page-error]"));
        Assert.Single(cut.FindAll("[data-testid=flaky-action]"));

        // An action's failure is caught the same way, and Reload asks for the page again from the server.
        await cut.Find("[data-testid=flaky-action]").ClickAsync(new MouseEventArgs());
        Assert.Equal("disk full while saving", cut.Find("[data-testid=page-error-message]").TextContent);
        var navigation = ctx.Services.GetRequiredService<BunitNavigationManager>();
        navigation.NavigateTo("/runs/7");
        await cut.Find("[data-testid=page-error-reload] button, button[data-testid=page-error-reload]").ClickAsync(new MouseEventArgs());
        var reload = navigation.History.First();
        Assert.EndsWith("/runs/7", reload.Uri);
        Assert.True(reload.Options.ForceLoad);
    }
}
