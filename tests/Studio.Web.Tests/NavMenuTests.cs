using Bunit;
using MudBlazor.Services;
using Studio.Web.Components.Layout;

namespace Studio.Web.Tests;

public class NavMenuTests
{
    [Fact]
    public void NavigationListsEveryStudioPage()
    {
        using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var nav = ctx.Render<NavMenu>();
        var hrefs = nav.FindAll("a").Select(a => a.GetAttribute("href")).ToList();
        Assert.Equal(["/", "/runs", "/runs/new", "/compare", "/generate", "/prompt-sets", "/models", "/workers", "/queue"], hrefs);
        Assert.Contains("Prompt sets", nav.Markup);
    }
}
