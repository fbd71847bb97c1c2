using System.Net.Http.Json;
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
        // Single-user mode on 127.0.0.1: the local user is the admin, so the Users page is listed too (and Help last), and the bar says so.
        Assert.Equal(11, await page.Locator(".mud-navmenu a").CountAsync());
        await Assertions.Expect(page.Locator("[data-testid=single-user-mode]")).ToBeVisibleAsync();
        // The bar Blazor shows when the connection ends after an error is on every page, hidden until then.
        await Assertions.Expect(page.Locator("#blazor-error-ui")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#blazor-error-ui")).ToBeHiddenAsync();
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("home"), FullPage = true });

        // Interactive: the theme toggle works once the circuit is up.
        await page.Locator("[data-interactive=true]").WaitForAsync();
        var before = await page.Locator(".mud-appbar").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        await page.Locator("#theme-toggle").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-appbar")).Not.ToHaveCSSAsync("background-color", before);

        foreach (var (link, heading, path) in new[] { ("Runs", "Runs", "/runs"), ("Workers", "Workers", "/workers"), ("Queue", "Queue", "/queue"), ("Help", "Help", "/help") })
        {
            await page.Locator(".mud-navmenu").GetByRole(AriaRole.Link, new() { Name = link, Exact = true }).ClickAsync();
            await page.WaitForURLAsync(host.Url + path);
            await Assertions.Expect(page.Locator("h4").First).ToHaveTextAsync(heading);
            await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath(path.Trim('/')), FullPage = true });
        }
        // The manual's contents links stay in the manual and scroll to their heading (a bare "#x" against <base href="/">
        // would open the Home page).
        await page.Locator("[data-testid=help-document]").GetByRole(AriaRole.Link, new() { Name = "GPU workers", Exact = true }).First.ClickAsync();
        await page.WaitForURLAsync(host.Url + "/help#gpu-workers");
        await Assertions.Expect(page.Locator("h4").First).ToHaveTextAsync("Help");
        await Assertions.Expect(page.Locator("#gpu-workers")).ToBeInViewportAsync();
        // The in-process worker is listed on the Workers page.
        await page.Locator(".mud-navmenu").GetByRole(AriaRole.Link, new() { Name = "Workers", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=workers-table]")).ToContainTextAsync("web:");
    }

    [Fact]
    public async Task TheKeyboardSkipsToThePageDialogsCloseOnEscapeAndTheThemeIsKept()
    {
        // A run that never starts (no worker serves its queue), cancelled: a stopped run the Runs page offers to delete.
        using var http = new HttpClient();
        const string yaml = """
            name: keyboard-probe
            teacher: { pipeline: toy, dtype: float32 }
            student: { preset: toy-small }
            text: { max_length: 32 }
            stages:
              - { name: s1, resolution: 64, updates: 4, prompts: [ { set: 'toy:train:24' } ] }
            device: cpu
            """;
        var created = await http.PostAsJsonAsync($"{host.Url}/api/runs", new { name = "keyboard-probe", configYaml = yaml, queue = "nobody-serves-this" });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var id = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt32();
        Assert.True((await http.PostAsync($"{host.Url}/api/runs/{id}/cancel", null)).IsSuccessStatusCode);

        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var context = await browser.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync($"{host.Url}/runs");
        await page.Locator("[data-interactive=true]").WaitForAsync();

        // The first Tab stop skips the app bar and the menu; Enter puts the focus on the page itself.
        await page.Keyboard.PressAsync("Tab");
        await Assertions.Expect(page.Locator(":focus")).ToHaveTextAsync("Skip to content");
        await Assertions.Expect(page.Locator(".studio-skip-link")).ToBeInViewportAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator(":focus")).ToHaveIdAsync("main-content");
        // Keyboard focus is drawn as an outline.
        await page.Keyboard.PressAsync("Tab");
        var focused = page.Locator(":focus");
        Assert.True(await focused.EvaluateAsync<string>("e => getComputedStyle(e).outlineStyle") != "none", await focused.EvaluateAsync<string>("e => e.outerHTML.slice(0, 200)"));

        // Escape closes a dialog, and the run is kept.
        var row = page.Locator("[data-testid=runs-table] tr", new() { HasText = "keyboard-probe" });
        await row.Locator("[aria-label=Delete]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-dialog")).ToHaveCountAsync(1);
        // The focus moves into the dialog (its first control), so the keyboard carries on there.
        await Assertions.Expect(page.Locator(".mud-dialog :focus")).ToHaveCountAsync(1);
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(page.Locator(".mud-dialog")).ToHaveCountAsync(0);
        await Assertions.Expect(row).ToHaveCountAsync(1);

        // The dark theme chosen stays across a reload and in a new tab of this browser.
        var light = await page.Locator(".mud-appbar").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        await page.Locator("#theme-toggle").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-appbar")).Not.ToHaveCSSAsync("background-color", light);
        var dark = await page.Locator(".mud-appbar").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        await page.ReloadAsync();
        await page.Locator("[data-interactive=true]").WaitForAsync();
        await Assertions.Expect(page.Locator(".mud-appbar")).ToHaveCSSAsync("background-color", dark);
        var tab = await context.NewPageAsync();
        await tab.GotoAsync($"{host.Url}/workers");
        await tab.Locator("[data-interactive=true]").WaitForAsync();
        await Assertions.Expect(tab.Locator(".mud-appbar")).ToHaveCSSAsync("background-color", dark);
        await tab.Locator("#theme-toggle").ClickAsync();
        await Assertions.Expect(tab.Locator(".mud-appbar")).ToHaveCSSAsync("background-color", light);
    }
}
