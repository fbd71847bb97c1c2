using Microsoft.Playwright;

namespace Studio.E2E.Tests;

[Collection("web")]
public class ShellBrowserTests(WebHostFixture host)
{
    [Fact]
    public async Task ALogBoxFollowsNewLinesAtTheBottomAndStaysPutWhenScrolledUp()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        await page.GotoAsync(host.Url + "/");
        await page.Locator("[data-interactive=true]").WaitForAsync();
        // A box as the run page's Log tab renders it, filled as live lines arrive (the studio's own script is loaded).
        await page.EvaluateAsync("""
            () => {
                const box = document.createElement('div');
                box.className = 'studio-log';
                box.id = 'probe-log';
                box.style.maxHeight = '100px';
                document.body.appendChild(box);
                window.addLines = (n) => { for (let i = 0; i < n; i++) { const line = document.createElement('div'); line.textContent = 'line'; box.appendChild(line); } };
                window.distanceFromBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight;
            }
            """);
        async Task<double> AddAndMeasure(int lines)
        {
            await page.EvaluateAsync($"() => window.addLines({lines})");
            await page.WaitForTimeoutAsync(100); // observers run after the DOM change
            return await page.EvaluateAsync<double>("() => window.distanceFromBottom()");
        }

        Assert.True(await AddAndMeasure(40) < 2, "a new box does not follow its lines");
        Assert.True(await AddAndMeasure(40) < 2, "the box stopped following while at the bottom");
        await page.EvaluateAsync("() => { const box = document.getElementById('probe-log'); box.scrollTop = 0; box.dispatchEvent(new Event('scroll')); }");
        await AddAndMeasure(40);
        Assert.Equal(0, await page.EvaluateAsync<double>("() => document.getElementById('probe-log').scrollTop")); // reading: left alone
        await page.EvaluateAsync("() => { const box = document.getElementById('probe-log'); box.scrollTop = box.scrollHeight; box.dispatchEvent(new Event('scroll')); }");
        Assert.True(await AddAndMeasure(40) < 2, "scrolled back down, the box does not follow again");
    }

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
