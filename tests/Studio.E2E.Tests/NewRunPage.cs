using Microsoft.Playwright;
using Studio.TestSupport;

namespace Studio.E2E.Tests;

/// <summary>The New run form as the browser tests fill it.</summary>
static class NewRunPage
{
    /// <summary>The New run form, opened and interactive, in a page tall enough that full-page screenshots need no scrolling.</summary>
    public static async Task<IPage> OpenAsync(IBrowser browser, string url)
    {
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 1700 } });
        await page.GotoAsync(url + "/runs/new");
        await page.Locator("[data-interactive=true]").WaitForAsync();
        return page;
    }

    /// <summary>The toy preset shrunk to a few updates on a small prompt sample, validated every few updates, no samples.</summary>
    public static async Task TinyToyRunAsync(IPage page, string name, int updates, int checkpointEvery, int validationEvery)
    {
        await page.GetByText("Toy: CPU in 15 minutes").ClickAsync();
        await Browser.SetAsync(page, "run-name", name);
        await Browser.SetAsync(page, "run-stage-0-updates", updates.ToString());
        await Browser.SetAsync(page, "run-stage-0-prompts-set-0", "toy:train:all:24");
        await Browser.SetAsync(page, "run-batch-size", "2");
        await Browser.SetAsync(page, "run-trajectory-steps", "4");
        await Browser.SetAsync(page, "run-checkpoint-every", checkpointEvery.ToString());
        await Browser.SetAsync(page, "run-samples-every", "0");
        await Browser.SetAsync(page, "run-validation-every", validationEvery.ToString());
        await Browser.SetAsync(page, "run-validation-prompts-set-0", "toy:heldout:all:5");
    }
}
