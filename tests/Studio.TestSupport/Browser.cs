using Microsoft.Playwright;

namespace Studio.TestSupport;

/// <summary>Debian's chromium, headless, driven by Playwright (no browser download is possible here).</summary>
public static class Browser
{
    public const string ChromiumPath = "/usr/bin/chromium";

    public static async Task<(IPlaywright, IBrowser)> LaunchAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"{ChromiumPath} is missing: test.sh installs Debian's chromium package");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
        });
        return (playwright, browser);
    }

    /// <summary>The field with this test id: MudBlazor puts data-testid on the input itself or on an element around it.</summary>
    public static ILocator Field(IPage page, string testId) =>
        page.Locator($"input[data-testid={testId}], textarea[data-testid={testId}], [data-testid={testId}] input, [data-testid={testId}] textarea").First;

    /// <summary>Types the value into the field and leaves it (Tab), as a user would, so that the form takes it.</summary>
    public static async Task SetAsync(ILocator field, string value)
    {
        await field.FillAsync(value);
        await field.PressAsync("Tab");
    }

    public static Task SetAsync(IPage page, string testId, string value) => SetAsync(Field(page, testId), value);

    /// <summary>
    /// The whole page as one PNG, taken in one viewport as tall as the page so that the fixed app bar is drawn once, at
    /// the top; returns the page's height.
    /// </summary>
    public static async Task<int> ScreenshotWholePageAsync(IPage page, int width, string path)
    {
        var height = await page.EvaluateAsync<int>("() => document.documentElement.scrollHeight");
        await page.SetViewportSizeAsync(width, height);
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        return height;
    }

    /// <summary>Screenshots go to the test project's bin/.../screenshots (kept by CI as artifacts).</summary>
    public static string ScreenshotPath(string name)
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name + ".png");
    }
}
