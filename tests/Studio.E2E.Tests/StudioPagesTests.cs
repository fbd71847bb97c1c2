using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace Studio.E2E.Tests;

/// <summary>Each studio page renders against the real app (a smoke test per page, with a screenshot).</summary>
[Collection("web")]
public class StudioPagesTests
{
    /// <summary>
    /// How long a page may take to settle (no request for 500 ms): these tests check what a page shows, not how fast;
    /// on a 2-core CI machine running other test projects beside them a page's images once took over Playwright's 30 s.
    /// </summary>
    static readonly PageWaitForLoadStateOptions Settled = new() { Timeout = 120_000 };

    readonly WebHostFixture host;
    readonly HttpClient _http = new();

    public StudioPagesTests(WebHostFixture host)
    {
        this.host = host;
        // The machine may be busy (two cores shared with builds): give each expectation time.
        Assertions.SetDefaultExpectTimeout(30_000);
    }

    async Task<(IPlaywright, IBrowser, IPage)> OpenAsync(string path)
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });
        await page.GotoAsync(host.Url + path);
        await page.Locator("[data-interactive=true]").WaitForAsync();
        return (playwright, browser, page);
    }

    async Task<JsonElement> PostAsync(string path, object body)
    {
        var response = await _http.PostAsJsonAsync(host.Url + path, body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {json}");
        return json;
    }

    async Task<JsonElement> WaitForRunAsync(int id, string state, int seconds = 60)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (true)
        {
            var run = await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/runs/{id}");
            if (run.GetProperty("state").GetString() == state || DateTime.UtcNow > deadline) return run;
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task EveryPageOfTheMenuLoadsWithoutAFailedRequestOrAConsoleError()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        var problems = new List<string>(); // watched from the first load: a browser asks for /favicon.ico once
        page.Console += (_, m) => { if (m.Type == "error") problems.Add($"{page.Url}: console: {m.Text}"); };
        page.Response += (_, r) => { if (r.Status >= 400) problems.Add($"{page.Url}: {r.Status} {r.Url}"); };
        foreach (var path in new[] { "/", "/runs", "/runs/new", "/compare", "/generate", "/prompt-sets", "/models", "/workers", "/queue", "/users", "/help", "/help/studio", "/help/toy-world" })
        {
            await page.GotoAsync(host.Url + path);
            await page.Locator("[data-interactive=true]").WaitForAsync();
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle, Settled);
        }
        Assert.Empty(problems); // the browser's own /favicon.ico included: the studio declares its icon
    }

    /// <summary>
    /// A laptop's 1280 px screen with the menu open, a 1024 px one (the menu closed, opened over the page) and a phone's
    /// 390 px: no page scrolls sideways, no table hides a column under its edge (Workers cut off its heartbeats, Runs its
    /// times, Prompt sets its sources before), no field's label is cut off, the app bar's title stays on one line, and on the phone, where a table
    /// shows each row as a card of its cells, every cell says which column it is (the cards were bare numbers before).
    /// </summary>
    [Fact]
    public async Task EveryPageFitsALaptopAndAPhoneScreen()
    {
        // A run that has run, so the Runs table has its times, worker and best held-out loss, in a group with a long name,
        // and its samples four columns of images (the teacher's and three steps').
        const string yaml = "student: { preset: toy-small }\ntext: { max_length: 32 }\nstages: [ { name: s, resolution: 64, updates: 3, prompts: [ { set: 'toy:train:24' } ] } ]\n" +
                            "validation: { every: 1, prompts: [ { set: 'toy:heldout' } ], prompts_per_category: 1, noises: 1 }\n" +
                            "samples: { every: 1, prompts: ['a red circle'], seeds: [0], steps: 2 }\ndevice: cpu\n";
        var id = (await PostAsync("/api/runs", new { name = "a run with a rather long name to fit", configYaml = yaml, queue = "default" })).GetProperty("id").GetInt32();
        Assert.True((await _http.PatchAsJsonAsync($"{host.Url}/api/runs/{id}", new { group = "a group whose name is longer than its column" })).IsSuccessStatusCode);
        var run = await WaitForRunAsync(id, "Completed", seconds: 300); // a busy 2-core machine
        Assert.Equal("Completed", run.GetProperty("state").GetString());

        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var overflows = new List<string>();
        foreach (var width in new[] { 1280, 1024, 390 })
        {
            var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = width, Height = 800 } });
            foreach (var path in new[] { "/", "/runs", $"/runs/{id}", $"/runs/{id}?tab=samples", $"/runs/{id}?tab=checkpoints", "/runs/new", "/compare", $"/compare?runs={id}&view=samples", "/generate", "/prompt-sets", "/models", "/workers", "/queue", "/users", "/help", "/help/toy-world", "/help/http-api" })
            {
                await page.GotoAsync(host.Url + path);
                await page.Locator("[data-interactive=true]").WaitForAsync();
                await page.WaitForLoadStateAsync(LoadState.NetworkIdle, Settled);
                var found = await page.EvaluateAsync<string[]>(@"() => {
                    const wide = [];
                    const d = document.scrollingElement;
                    if (d.scrollWidth > d.clientWidth + 1) wide.push('the page: ' + d.scrollWidth + ' px in ' + d.clientWidth);
                    document.querySelectorAll('.mud-table-container').forEach(t => {
                        if (t.scrollWidth > t.clientWidth + 1) wide.push((t.closest('[data-testid]')?.dataset.testid ?? 'a table') + ': ' + t.scrollWidth + ' px in ' + t.clientWidth);
                    });
                    const title = document.querySelector('[data-testid=studio-title]');
                    if (title.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(title).lineHeight)) wide.push('the title takes two lines');
                    // MudTable's small-screen layout (mud-xs-table): a row is a card, and a cell's label is its data-label.
                    document.querySelectorAll('.mud-xs-table tbody td').forEach(td => {
                        if (!td.dataset.label && td.textContent.trim() !== '' && !td.hasAttribute('colspan'))
                            wide.push((td.closest('[data-testid]')?.dataset.testid ?? 'a table') + ': a cell without its column\'s label (' + td.textContent.trim().slice(0, 30) + ')');
                    });
                    // A page's heading breaks over lines only when it is wider than the page, not because buttons beside it squeeze it.
                    document.querySelectorAll('#main-content h4').forEach(h => {
                        const lines = h.getBoundingClientRect().height / parseFloat(getComputedStyle(h).lineHeight);
                        const was = h.style.whiteSpace; h.style.whiteSpace = 'nowrap';
                        const oneLine = h.scrollWidth; h.style.whiteSpace = was;
                        if (lines > 1.5 && oneLine <= document.getElementById('main-content').clientWidth)
                            wide.push('the heading \'' + h.textContent.trim() + '\' is squeezed onto ' + Math.round(lines) + ' lines');
                    });
                    // A field's label is whole: one longer than its field ends in '...' and hides what the field is for
                    // (New run's cache folder, Users' password rule, Generate's encoders were cut; what an empty field
                    // means goes in its helper text).
                    document.querySelectorAll('label.mud-input-label').forEach(l => {
                        if (l.offsetParent !== null && l.scrollWidth > l.clientWidth + 1)
                            wide.push('a field\'s label is cut off: \'' + l.textContent.trim() + '\' (' + l.scrollWidth + ' px in ' + l.clientWidth + ')');
                    });
                    // A value in a grid of figures (the run page's loss, updates/s, ...) fits its cell instead of running into the next.
                    document.querySelectorAll('.mud-grid-item').forEach(g => {
                        if (g.scrollWidth > g.clientWidth + 1 && getComputedStyle(g).overflowX === 'visible')
                            wide.push('wider than its grid cell: \'' + g.textContent.trim().slice(0, 40) + '\' (' + g.scrollWidth + ' px in ' + g.clientWidth + ')');
                    });
                    // Nothing runs past the edge of its card (a chip of a long label, a row of buttons), unless it is
                    // inside a box of its own that scrolls or clips; only the outermost such element is named.
                    const outside = (el, box) => { const r = el.getBoundingClientRect(); return r.right > box.right + 1 || r.left < box.left - 1; };
                    document.querySelectorAll('.mud-paper *').forEach(el => {
                        const r = el.getBoundingClientRect();
                        const card = el.parentElement.closest('.mud-paper');
                        if (r.width === 0 || r.height === 0 || !card) return;
                        const box = card.getBoundingClientRect();
                        if (!outside(el, box) || outside(el.parentElement, box)) return;
                        for (let s = el.parentElement; s !== card; s = s.parentElement)
                            if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(s).overflowX)) return;
                        wide.push('past its card: ' + el.tagName.toLowerCase() + ' \'' + el.textContent.trim().slice(0, 40) + '\'');
                    });
                    return wide;
                }");
                overflows.AddRange(found.Select(f => $"{path} at {width} px: {f}"));
            }
            await page.CloseAsync();
        }
        Assert.Empty(overflows);
    }

    [Fact]
    public async Task AnInvalidConfigurationIsRefusedByTheApiAndAQueuedRunShowsOnItsPages()
    {
        // A configuration without stages is refused before anything is written, naming the field.
        var before = (await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/runs")).GetArrayLength();
        var invalid = await _http.PostAsJsonAsync($"{host.Url}/api/runs", new { name = "api smoke", configYaml = "seed: 1\n", queue = "default" });
        Assert.Equal(400, (int)invalid.StatusCode);
        var answer = await invalid.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(answer.GetProperty("problems").EnumerateArray(), p => p.GetProperty("field").GetString() == "stages");
        Assert.Equal(before, (await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/runs")).GetArrayLength());

        // A valid run on a queue no worker serves stays queued until it is cancelled.
        const string yaml = "student: { preset: toy-base }\ntext: { max_length: 32 }\nstages: [ { name: s, resolution: 64, updates: 1, prompts: [ { set: 'toy:train' } ] } ]\n";
        var created = await PostAsync("/api/runs", new { name = "api smoke", configYaml = yaml, queue = "held" });
        var id = created.GetProperty("id").GetInt32();
        await PostAsync($"/api/runs/{id}/cancel", new { });
        await WaitForRunAsync(id, "Cancelled");

        var (playwright, browser, page) = await OpenAsync("/runs");
        using var _ = playwright;
        await using var __ = browser;
        await Assertions.Expect(page.Locator("[data-testid=runs-table]")).ToContainTextAsync("api smoke");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("runs-table"), FullPage = true });

        await page.GotoAsync($"{host.Url}/runs/{id}");
        await Assertions.Expect(page.Locator("[data-testid=run-state]")).ToContainTextAsync("cancelled");
        await page.Locator("[data-testid=chart-loss]").WaitForAsync();
        await page.GetByRole(AriaRole.Tab, new() { Name = "Log" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=run-log]")).ToContainTextAsync("Queued on 'held'.");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("run-detail"), FullPage = true });
    }

    /// <summary>The Runs page's search lives in the address: Back from a run's page finds it again, the menu's Runs clears it.</summary>
    [Fact]
    public async Task BackFromARunKeepsTheRunsSearchAndTheMenusRunsClearsIt()
    {
        const string yaml = "student: { preset: toy-base }\ntext: { max_length: 32 }\nstages: [ { name: s, resolution: 64, updates: 1, prompts: [ { set: 'toy:train' } ] } ]\n";
        var ids = new List<int>();
        foreach (var name in new[] { "back-search alpha", "back-search beta" })
            ids.Add((await PostAsync("/api/runs", new { name, configYaml = yaml, queue = "held" })).GetProperty("id").GetInt32());
        try
        {
            var (playwright, browser, page) = await OpenAsync("/runs");
            using var _ = playwright;
            await using var __ = browser;
            var search = page.Locator("input[data-testid=runs-search], [data-testid=runs-search] input");
            await search.PressSequentiallyAsync("search alpha", new() { Delay = 40 });
            await page.WaitForURLAsync("**/runs?search=search%20alpha");
            await Assertions.Expect(page.Locator("[data-testid=run-name]")).ToHaveTextAsync(["back-search alpha"]);

            await page.Locator("[data-testid=run-name]").ClickAsync();
            await page.WaitForURLAsync($"**/runs/{ids[0]}");
            await page.Locator("[data-testid=run-state]").WaitForAsync();
            await page.GoBackAsync();
            await page.Locator("[data-interactive=true]").WaitForAsync();
            await Assertions.Expect(search).ToHaveValueAsync("search alpha");
            await Assertions.Expect(page.Locator("[data-testid=run-name]")).ToHaveTextAsync(["back-search alpha"]);

            await page.Locator("nav a[href='/runs']").ClickAsync();
            await page.WaitForURLAsync(url => url.EndsWith("/runs"));
            await Assertions.Expect(search).ToHaveValueAsync("");
            await Assertions.Expect(page.Locator("[data-testid=runs-table]")).ToContainTextAsync("back-search beta");
        }
        finally
        {
            foreach (var id in ids) await PostAsync($"/api/runs/{id}/cancel", new { });
        }
    }

    [Fact]
    public async Task PromptSetsListTheBuiltInSetsAndAnImportReportsBadLines()
    {
        var (playwright, browser, page) = await OpenAsync("/prompt-sets");
        using var _ = playwright;
        await using var __ = browser;
        await Assertions.Expect(page.Locator("[data-testid=prompt-sets-table]")).ToContainTextAsync("toy:train:semantics");
        var file = Path.Combine(host.DataDirectory, "upload.jsonl");
        File.WriteAllText(file, "{\"text\": \"a red cube\"}\n{broken\n{\"text\": \"two blue spheres\", \"category\": \"semantics/numeracy\"}\n");
        // Through the real app by a path on the studio's machine (the data directory is an allowed root). The browser
        // upload itself is covered by bUnit (PromptSetImportTests): in full CI runs at high load, chromium's file
        // stream into the circuit timed out (three clean-clone runs), while it passed alone.
        await page.Locator("input[data-testid=import-path], [data-testid=import-path] input").First.FillAsync(file);
        await page.GetByRole(AriaRole.Button, new() { Name = "Read", Exact = true }).ClickAsync();
        await page.Locator("[data-testid=import-summary]").WaitForAsync(new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("[data-testid=import-summary]")).ToContainTextAsync("2 prompts; 0 empty, 0 too long, 1 bad lines skipped");
        await Assertions.Expect(page.Locator("[data-testid=import-bad-lines]")).ToContainTextAsync("line 2: not valid JSON");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("prompt-sets"), FullPage = true });
    }

    [Fact]
    public async Task ModelsRefuseAFolderOutsideTheAllowedRoots()
    {
        var (playwright, browser, page) = await OpenAsync("/models");
        using var _ = playwright;
        await using var __ = browser;
        await page.Locator("input[data-testid=model-folder], [data-testid=model-folder] input").First.FillAsync("/etc");
        await page.Locator("[data-testid=model-register]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=model-error]")).ToContainTextAsync("outside the allowed folders");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("models"), FullPage = true });
    }

    [Fact]
    public async Task WorkersShowTheirDeviceAndComparePageRenders()
    {
        var (playwright, browser, page) = await OpenAsync("/workers");
        using var _ = playwright;
        await using var __ = browser;
        await Assertions.Expect(page.Locator("[data-testid=worker-device]").First).ToContainTextAsync("cores");
        await Assertions.Expect(page.Locator("[data-testid=worker-jobs-on]").First).ToContainTextAsync("generations and evaluations on cpu in float32");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("workers-devices"), FullPage = true });

        await page.GotoAsync(host.Url + "/compare");
        await Assertions.Expect(page.Locator("[data-testid=compare-chart]")).ToContainTextAsync("Select runs");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("compare"), FullPage = true });
    }

    [Fact]
    public async Task AGenerationWithTheBuiltInToyTeacherProducesItsImage()
    {
        // No teacher model named: the built-in toy teacher, registered at start-up, is the default.
        var created = await PostAsync("/api/generations", new { prompt = "a red circle", seed = 1, steps = 4, guidance = 3.5, width = 64, height = 64 });
        var id = created.GetProperty("id").GetInt32();
        JsonElement g;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        do
        {
            await Task.Delay(250);
            g = await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/generations/{id}");
        } while (g.GetProperty("state").GetString() is "Queued" or "Running" && DateTime.UtcNow < deadline);
        Assert.True(g.GetProperty("state").GetString() == "Completed", g.ToString());
        var image = g.GetProperty("images")[0];
        Assert.Equal("teacher", image.GetProperty("encoder").GetString());
        var png = await _http.GetByteArrayAsync($"{host.Url}/api/generations/{id}/images/{image.GetProperty("id").GetInt32()}");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        // Its figure: a PNG to download, named by the generation.
        using var figure = await _http.GetAsync($"{host.Url}/api/generations/figure.png?ids={id}");
        Assert.Equal("image/png", figure.Content.Headers.ContentType?.MediaType);
        Assert.Equal($"generations-{id}.png", figure.Content.Headers.ContentDisposition?.FileName);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], (await figure.Content.ReadAsByteArrayAsync())[..4]);

        var (playwright, browser, page) = await OpenAsync("/generate");
        using var _ = playwright;
        await using var __ = browser;
        await Assertions.Expect(page.Locator("[data-testid=generation]").First).ToContainTextAsync("a red circle");
        await Assertions.Expect(page.Locator("[data-testid=generation-image] img").First).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("generate"), FullPage = true });
    }
}
