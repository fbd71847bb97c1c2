using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Studio.E2E.Tests;

/// <summary>
/// A sweep from the browser against the real app: two learning rates of a tiny toy run queued from the New run form,
/// listed as their group, trained by the embedded worker, then set side by side in Compare's settings and results.
/// </summary>
[Collection("web")]
public class SweepFlowTests(WebHostFixture host)
{
    readonly HttpClient _http = new();

    [Fact]
    public async Task ASweepFromTheFormTrainsAsAGroupAndComparesItsSettings()
    {
        Assertions.SetDefaultExpectTimeout(30_000);
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await NewRunPage.OpenAsync(browser, host.Url);

        await NewRunPage.TinyToyRunAsync(page, "e2e sweep", updates: 4, checkpointEvery: 2, validationEvery: 2);

        // The first swept field offered is the learning rate.
        await page.Locator("[data-testid=run-sweep-add]").ClickAsync();
        await Browser.SetAsync(page, "run-sweep-values-0", "1e-3, 3e-3");
        await Assertions.Expect(page.Locator("[data-testid=run-sweep-preview]")).ToContainTextAsync("e2e sweep · lr=3e-3");
        await Assertions.Expect(page.Locator("[data-testid=run-submit]")).ToContainTextAsync("Queue 2 runs");
        await page.Locator("[data-testid=run-submit]").ClickAsync();
        await page.WaitForURLAsync(new Regex(@"/runs\?group=e2e%20sweep$"));
        await Assertions.Expect(page.Locator("[data-testid=run-name]")).ToHaveCountAsync(2);

        // Both train on the embedded worker; the group's rows follow them live.
        var runs = await GroupWhenAsync("e2e%20sweep", runs => !Active(runs));
        Assert.All(runs.EnumerateArray(), r => Assert.True(r.GetProperty("state").GetString() == "Completed", r.GetProperty("error").ToString()));
        await Assertions.Expect(page.Locator("[data-testid=run-state]", new() { HasTextString = "completed" })).ToHaveCountAsync(2);

        await page.Locator("[data-testid=runs-compare]").ClickAsync();
        await page.WaitForURLAsync(new Regex(@"/compare\?(group=e2e%20sweep&view=settings|view=settings&group=e2e%20sweep)$"));
        var table = page.Locator("[data-testid=settings-table]");
        await Assertions.Expect(table.Locator("th", new() { HasTextString = "optimizer.lr" })).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("[data-testid='setting-optimizer.lr']")).ToHaveTextAsync(["0.001", "0.003"]);
        // Validation ran at the last update: every row has a held-out loss.
        await Assertions.Expect(page.Locator("[data-testid=settings-validation]")).ToHaveTextAsync([new Regex(@"\(step 4\)"), new Regex(@"\(step 4\)")]);
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("compare-settings"), FullPage = true });
    }

    [Fact]
    public async Task ABayesianSearchFromTheFormQueuesEachNextRunWhenOneFinishes()
    {
        Assertions.SetDefaultExpectTimeout(30_000);
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await NewRunPage.OpenAsync(browser, host.Url);
        await NewRunPage.TinyToyRunAsync(page, "e2e tpe", updates: 4, checkpointEvery: 2, validationEvery: 2);

        await page.Locator("[data-testid=run-sweep-add]").ClickAsync();
        await Browser.SetAsync(page, "run-sweep-values-0", "loguniform(1e-4, 1e-2)");
        await page.Locator("[data-testid=run-sweep-search]").ClickAsync();
        await page.GetByText("Bayesian search (TPE)").ClickAsync();
        await Browser.SetAsync(page, "run-sweep-runs", "3");
        await Browser.SetAsync(page, "run-sweep-at-once", "1");
        await Assertions.Expect(page.Locator("[data-testid=run-submit]")).ToContainTextAsync("Start Bayesian search (1 of 3 runs now)");
        await page.Locator("[data-testid=run-submit]").ClickAsync();
        await page.WaitForURLAsync(new Regex(@"/runs\?group=e2e%20tpe$"));

        // One run at a time: the worker that finishes one queues the next, until three are made and trained.
        var runs = await GroupWhenAsync("e2e%20tpe", runs => runs.GetArrayLength() >= 3 && !Active(runs));
        Assert.Equal(3, runs.GetArrayLength());
        Assert.All(runs.EnumerateArray(), r => Assert.True(r.GetProperty("state").GetString() == "Completed", r.GetProperty("error").ToString()));
        Assert.Equal(3, runs.EnumerateArray().Select(r => r.GetProperty("name").GetString()).Distinct().Count());
        await Assertions.Expect(page.Locator("[data-testid=runs-sweep-plan]")).ToHaveTextAsync("Bayesian search: 3 of 3 runs made");
        await Assertions.Expect(page.Locator("[data-testid=run-state]", new() { HasTextString = "completed" })).ToHaveCountAsync(3);
    }

    static bool Active(JsonElement runs) => runs.EnumerateArray().Any(r => r.GetProperty("state").GetString() is "Queued" or "Running");

    /// <summary>The group's runs (from the API) once <paramref name="done"/> holds, or after five minutes.</summary>
    async Task<JsonElement> GroupWhenAsync(string escapedGroup, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(300);
        JsonElement runs;
        do
        {
            await Task.Delay(500);
            runs = await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/runs?group={escapedGroup}");
        }
        while (DateTime.UtcNow < deadline && !done(runs));
        return runs;
    }
}
