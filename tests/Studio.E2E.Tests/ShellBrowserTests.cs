using Microsoft.Playwright;

namespace Studio.E2E.Tests;

[Collection("web")]
public class ShellBrowserTests(WebHostFixture host)
{
    [Fact]
    public async Task HomeRendersTheShellAndNavigationWorks()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        await page.GotoAsync(host.Url + "/");

        // MudBlazor shell: app bar title, navigation drawer, live counts.
        await page.Locator(".mud-appbar").GetByText("Distill Studio").WaitForAsync();
        await page.Locator("[data-testid=count-workers]").WaitForAsync();
        // Single-user mode on 127.0.0.1: the local user is the admin, so the Users page is listed too, and the bar says so.
        Assert.Equal(10, await page.Locator(".mud-navmenu a").CountAsync());
        await Assertions.Expect(page.Locator("[data-testid=single-user-mode]")).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("home"), FullPage = true });

        // Interactive: the theme toggle works once the circuit is up.
        await page.Locator("[data-interactive=true]").WaitForAsync();
        var before = await page.Locator(".mud-appbar").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        await page.Locator("#theme-toggle").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-appbar")).Not.ToHaveCSSAsync("background-color", before);

        foreach (var (link, heading, path) in new[] { ("Runs", "Runs", "/runs"), ("Workers", "Workers", "/workers"), ("Queue", "Queue", "/queue") })
        {
            await page.Locator(".mud-navmenu").GetByRole(AriaRole.Link, new() { Name = link, Exact = true }).ClickAsync();
            await page.WaitForURLAsync(host.Url + path);
            await Assertions.Expect(page.Locator("h4").First).ToHaveTextAsync(heading);
            await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath(path.Trim('/')), FullPage = true });
        }
        // The in-process worker is listed on the Workers page.
        await page.Locator(".mud-navmenu").GetByRole(AriaRole.Link, new() { Name = "Workers", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=workers-table]")).ToContainTextAsync("web:");
    }
}
