using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core.Data;
using Studio.Web.Auth;
using Studio.Web.Components.Layout;

namespace Studio.Web.Tests;

public class NavMenuTests
{
    static readonly string[] EveryonesPages = ["/", "/runs", "/runs/new", "/compare", "/generate", "/prompt-sets", "/models", "/workers", "/queue"];

    static IRenderedComponent<NavMenu> Render(bool admin, string? at = null)
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var auth = ctx.AddAuthorization();
        auth.SetAuthorized(admin ? "ada" : "rhea");
        auth.SetRoles(admin ? StudioRoles.Admin : StudioRoles.Researcher);
        if (admin) auth.SetPolicies(StudioRoles.CanAdminister, StudioRoles.CanChange);
        else auth.SetPolicies(StudioRoles.CanChange);
        if (at is not null) ctx.Services.GetRequiredService<NavigationManager>().NavigateTo(at);
        return ctx.Render<NavMenu>();
    }

    [Fact]
    public void NavigationListsEveryStudioPage()
    {
        var nav = Render(admin: false);
        Assert.Equal([.. EveryonesPages, "/help"], nav.FindAll("a").Select(a => a.GetAttribute("href")));
        Assert.Contains("Prompt sets", nav.Markup);
    }

    [Fact]
    public void OnlyAdminsSeeTheUsersPage()
    {
        var nav = Render(admin: true);
        Assert.Equal([.. EveryonesPages, "/users", "/help"], nav.FindAll("a").Select(a => a.GetAttribute("href")));
    }

    [Theory]
    [InlineData("/runs/new", "/runs/new")]
    [InlineData("/runs/7", "/runs")]
    [InlineData("/runs", "/runs")]
    [InlineData("/generate", "/generate")]
    public void OnlyThePageOpenIsMarkedNewRunNotAlsoRuns(string at, string marked)
    {
        var nav = Render(admin: false, at);
        Assert.Equal([marked], nav.FindAll("a.active").Select(a => a.GetAttribute("href")));
    }
}
