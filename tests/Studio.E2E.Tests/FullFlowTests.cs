using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.Playwright;

namespace Studio.E2E.Tests;

/// <summary>
/// What a new user does with the browser only, against the real app with its embedded worker: a toy run through the
/// New run form, the loss chart growing live until the run finishes, then an image from its last checkpoint beside the
/// teacher's on the Generate page. A handful of updates keeps it short; screenshots of each page go to the artifacts.
/// </summary>
[Collection("web")]
public class FullFlowTests(WebHostFixture host)
{
    const int Updates = 6;
    readonly HttpClient _http = new();

    [Fact]
    public async Task AToyRunFromTheFormTrainsLiveAndItsCheckpointGeneratesBesideTheTeacher()
    {
        Assertions.SetDefaultExpectTimeout(30_000);
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await NewRunPage.OpenAsync(browser, host.Url);

        // The toy preset is the default; shrink it to a few updates on a small prompt sample.
        await NewRunPage.TinyToyRunAsync(page, "e2e toy", Updates, checkpointEvery: 3, validationEvery: 3);
        await page.Locator("[data-testid=run-validate]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=run-valid]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-testid=run-memory]")).ToContainTextAsync("Estimated peak memory");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("new-run"), FullPage = true });

        await page.Locator("[data-testid=run-submit]").ClickAsync();
        await page.WaitForURLAsync(new Regex(@"/runs/\d+$"));
        var runId = int.Parse(page.Url[(page.Url.LastIndexOf('/') + 1)..]);
        await page.Locator("[data-testid=chart-loss]").WaitForAsync();
        var lossPoints = page.Locator("[data-testid=chart-loss] path[data-kind=raw]").First;
        int PointsIn(string? count) => int.TryParse(count, out var n) ? n : 0;
        var pointsAtOpen = await lossPoints.CountAsync() == 0 ? 0 : PointsIn(await lossPoints.GetAttributeAsync("data-count"));
        Assert.True(pointsAtOpen < Updates, $"the run was already finished when its page opened ({pointsAtOpen} points)");

        // The page is never reloaded: points arrive over SignalR until the run completes.
        // A screenshot while it trains, when the first points are in (a fast machine may finish first).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(300);
        while (DateTime.UtcNow < deadline && await page.Locator("[data-testid=run-state]").TextContentAsync() is "queued" or "running")
        {
            if (await lossPoints.CountAsync() > 0 && PointsIn(await lossPoints.GetAttributeAsync("data-count")) > 0)
            {
                await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("run-detail-live"), FullPage = true });
                break;
            }
            await Task.Delay(200);
        }
        await Assertions.Expect(page.Locator("[data-testid=run-state]")).ToHaveTextAsync(new Regex("^(completed|failed|cancelled)$"), new() { Timeout = 300_000 });
        if (await page.Locator("[data-testid=run-state]").TextContentAsync() != "completed")
            Assert.Fail($"the run did not complete: {await page.Locator("[data-testid=run-error]").TextContentAsync()}");
        await Assertions.Expect(lossPoints).ToHaveAttributeAsync("data-count", Updates.ToString());
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("run-detail"), FullPage = true });
        // Each chart is drawn at the width it is shown at (one unit a pixel), so its 11 px labels are 11 px in a
        // half-width column too (a fixed 800-unit drawing showed them at 7 px).
        var lossSvg = page.Locator("[data-testid=chart-loss] svg.studio-chart-svg");
        await Assertions.Expect(lossSvg).Not.ToHaveAttributeAsync("viewBox", new Regex("^0 0 800 "));
        var sizes = await lossSvg.EvaluateAsync<double[]>("e => [e.viewBox.baseVal.width, e.getBoundingClientRect().width]");
        Assert.True(Math.Abs(sizes[0] - sizes[1]) <= 4, $"drawn {sizes[0]} units wide, shown {sizes[1]} px");

        // The loss chart saved as SVG: a file that stands alone (no page CSS: every colour written on its element), with
        // the chart's title and its line of every update.
        var download = await page.RunAndWaitForDownloadAsync(async () =>
        {
            await page.Locator("[data-testid=chart-loss-export] button").ClickAsync();
            await page.Locator("[data-testid=chart-loss-export-svg]").ClickAsync();
        });
        Assert.Equal("loss.svg", download.SuggestedFilename);
        await download.SaveAsAsync(Path.ChangeExtension(Browser.ScreenshotPath("export-loss"), ".svg"));
        var svg = XDocument.Load(await download.PathAsync());
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", svg.Root!.Name);
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "Loss");
        var raw = Assert.Single(svg.Descendants(ns + "path"), p => (string?)p.Attribute("data-kind") == "raw");
        Assert.Equal(Updates.ToString(), (string?)raw.Attribute("data-count"));
        Assert.DoesNotContain(svg.Descendants(), e => e.Attribute("class") is not null);
        Assert.All(svg.Descendants(ns + "text"), t => Assert.NotNull(t.Attribute("fill")));
        // Saved from the dark theme, the file is the same paper figure: its labels dark on white, not the page's light grey.
        await page.Locator("#theme-toggle").ClickAsync();
        var dark = await page.RunAndWaitForDownloadAsync(async () =>
        {
            await page.Locator("[data-testid=chart-loss-export] button").ClickAsync();
            await page.Locator("[data-testid=chart-loss-export-svg]").ClickAsync();
        });
        var darkSvg = XDocument.Load(await dark.PathAsync());
        static bool Light(string fill) => Regex.Match(fill, @"rgba?\((\d+), (\d+), (\d+)") is { Success: true } m && m.Groups.Values.Skip(1).All(g => int.Parse(g.Value) > 160);
        Assert.All(darkSvg.Descendants(ns + "text"), t => Assert.False(Light((string)t.Attribute("fill")!), $"{t.Value}: {t.Attribute("fill")}"));
        Assert.Equal(svg.Descendants(ns + "text").Select(t => (string?)t.Attribute("fill")), darkSvg.Descendants(ns + "text").Select(t => (string?)t.Attribute("fill")));
        await page.Locator("#theme-toggle").ClickAsync();

        // Generate from the last checkpoint, beside the teacher, through the run page's link.
        var checkpoints = await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/runs/{runId}/checkpoints");
        var last = checkpoints.EnumerateArray().MaxBy(c => c.GetProperty("step").GetInt64());
        Assert.Equal(Updates, last.GetProperty("step").GetInt64());
        await page.GetByRole(AriaRole.Tab, new() { NameRegex = new Regex("^Checkpoints") }).ClickAsync();
        await page.Locator($"a[href='/generate?checkpoint={last.GetProperty("id").GetInt32()}']").ClickAsync();
        await page.WaitForURLAsync(new Regex(@"/generate\?checkpoint=\d+$"));
        await page.Locator("[data-interactive=true]").WaitForAsync();
        await Browser.SetAsync(page, "generate-prompt", "a red circle and a blue square");
        await page.Locator("[data-testid=generate-submit]").ClickAsync();

        var generation = page.Locator("[data-testid=generation]").First;
        await Assertions.Expect(generation).ToContainTextAsync("a red circle and a blue square");
        var teacher = generation.Locator("[data-testid=generation-image][data-encoder=teacher]");
        var student = generation.Locator($"[data-testid=generation-image][data-encoder='run {runId} · step {Updates}']");
        await Assertions.Expect(teacher.Locator("img")).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await Assertions.Expect(student.Locator("img")).ToBeVisibleAsync(new() { Timeout = 120_000 });
        Assert.True(await teacher.Locator("img").EvaluateAsync<bool>("img => img.complete && img.naturalWidth == 64"), "the teacher's image did not load");
        Assert.True(await student.Locator("img").EvaluateAsync<bool>("img => img.complete && img.naturalWidth == 64"), "the student's image did not load");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("generate-side-by-side"), FullPage = true });

        // The difference view swaps the student's image for |student - teacher|.
        await page.GetByText("Difference to the teacher").ClickAsync();
        await Assertions.Expect(student.Locator("img")).ToHaveAttributeAsync("src", new Regex("/difference$"));
        await Assertions.Expect(student).ToContainTextAsync("mean |Δ|");
        await Assertions.Expect(student).ToContainTextAsync(new Regex(@"SSIM (0|1)\.\d{3}"));
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("generate-difference"), FullPage = true });

        await page.GotoAsync(host.Url + "/runs");
        await Assertions.Expect(page.Locator("[data-testid=runs-table]")).ToContainTextAsync("e2e toy");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("runs"), FullPage = true });

        // Evaluate the run's last checkpoint and the teacher (tiny settings) while Compare is open: the scaling chart
        // gets the run's point and the teacher's line as the evaluations finish, without a reload.
        // With no evaluation yet Compare opens on the training curves; ?view=scaling opens the scaling chart.
        await page.GotoAsync(host.Url + "/compare?view=scaling");
        await page.Locator("[data-testid=scaling-chart]").WaitForAsync();
        await Task.Delay(500); // the page's circuit subscribes to evaluation updates once it is interactive
        foreach (var request in new object[]
                 {
                     new { latestOfRuns = new[] { runId }, promptsPerCategory = 1, steps = 2 },
                     new { teacherPipeline = "toy", promptsPerCategory = 1, steps = 2 },
                 })
        {
            var response = await _http.PostAsJsonAsync($"{host.Url}/api/evaluations", request);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
        var point = page.Locator($"[data-testid=scaling-chart] [data-point][data-label^='{runId} · e2e toy']");
        await Assertions.Expect(point).ToHaveCountAsync(1, new() { Timeout = 180_000 });
        await Assertions.Expect(page.Locator("[data-testid=scaling-chart] line[data-reference=teacher]")).ToHaveCountAsync(1, new() { Timeout = 180_000 });
        await Assertions.Expect(page.Locator("[data-testid=scaling-table]")).ToContainTextAsync($"{runId} · e2e toy · step {Updates}");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("compare-scaling"), FullPage = true });
        // The table is wider than the page: scrolled to its far right, each row's encoder stays in sight at its left.
        var pinned = await page.EvaluateAsync<double[]>(@"() => {
            const box = document.querySelector('[data-testid=scaling-table] .mud-table-container');
            box.scrollLeft = box.scrollWidth;
            const cell = box.querySelector('tbody td');
            return [box.scrollWidth - box.clientWidth, box.scrollLeft, cell.getBoundingClientRect().left - box.getBoundingClientRect().left];
        }");
        Assert.True(pinned[0] > 50 && pinned[1] > 50, $"the scaling table does not scroll sideways here ({pinned[0]} px wider than its box)");
        Assert.InRange(pinned[2], -1, 1);

        // The scaling chart saved as PNG at twice its size, with its legend (the run's group and the teacher) under it.
        var png = await page.RunAndWaitForDownloadAsync(async () =>
        {
            await page.Locator("[data-testid=scaling-chart-export] button").ClickAsync();
            await page.Locator("[data-testid=scaling-chart-export-png]").ClickAsync();
        });
        Assert.EndsWith(".png", png.SuggestedFilename);
        await png.SaveAsAsync(Browser.ScreenshotPath("export-scaling"));
        var bytes = await File.ReadAllBytesAsync(await png.PathAsync());
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        Assert.Equal(1600, (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19]); // IHDR width
        Assert.True(((bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23]) > 2 * 360, "no room for the title and the legend");
    }
}
