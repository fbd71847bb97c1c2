using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Studio.TestSupport;

namespace Studio.E2E.Tests;

/// <summary>Logins required (as when bound beyond 127.0.0.1): every surface needs a user, and roles limit what they may change.</summary>
public class LoginTests
{
    const string AdminPassword = "first-admin-pass";

    [Fact]
    public async Task EverythingNeedsALoginAndAViewerChangesNothing()
    {
        var data = StudioProcess.NewTempDirectory("studio-login");
        var (studio, url) = await StudioProcess.StartWebAsync(data, new Dictionary<string, string>
        {
            ["Studio__Auth"] = "required",
            ["Studio__AdminPassword"] = AdminPassword,
        });
        await using var _ = studio;
        Assertions.SetDefaultExpectTimeout(30_000);

        // Anonymous: pages go to the login page, the API and the hub answer 401, health stays open.
        using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var page = await anonymous.GetAsync(url + "/runs");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.StartsWith("/login", page.Headers.Location!.PathAndQuery);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(url + "/api/runs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(url + "/api/openapi.json")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync(url + "/hubs/runs/negotiate?negotiateVersion=1", null)).StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, (await anonymous.GetAsync(url + "/hangfire")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(url + "/healthz")).StatusCode);

        // The admin logs in through the page, sees who they are, and adds a viewer on the Users page.
        var (playwright, browser) = await Browser.LaunchAsync();
        using var __ = playwright;
        await using var ___ = browser;
        var tab = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });
        await tab.GotoAsync(url + "/users");
        await Assertions.Expect(tab).ToHaveURLAsync(new Regex("/login"));
        await tab.FillAsync("#userName", "admin");
        await tab.FillAsync("#password", "wrong password");
        await tab.ClickAsync("[data-testid=login-submit]");
        await Assertions.Expect(tab.Locator("[data-testid=login-error]")).ToContainTextAsync("Wrong user name or password");
        await tab.FillAsync("#userName", "admin");
        await tab.FillAsync("#password", AdminPassword);
        await tab.ClickAsync("[data-testid=login-submit]");
        await tab.Locator("[data-interactive=true]").WaitForAsync();
        await Assertions.Expect(tab.Locator("[data-testid=signed-in-user]")).ToContainTextAsync("admin (admin)");
        // Signed in, the login page goes on to where it would have led.
        await tab.GotoAsync(url + "/login?returnUrl=%2Fworkers");
        await Assertions.Expect(tab).ToHaveURLAsync(new Regex("/workers$"));
        await tab.GotoAsync(url + "/users");
        await tab.Locator("[data-interactive=true]").WaitForAsync();
        await tab.Locator("input[data-testid=new-user-name], [data-testid=new-user-name] input").First.FillAsync("vera");
        await tab.Locator("input[data-testid=new-user-password], [data-testid=new-user-password] input").First.FillAsync("viewer-pass");
        await tab.GetByRole(AriaRole.Radio, new() { Name = "viewer" }).CheckAsync();
        await tab.ClickAsync("[data-testid=add-user]");
        await Assertions.Expect(tab.Locator("[data-testid=users-table] tr", new() { HasText = "vera" })).ToContainTextAsync("viewer");
        await tab.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("users"), FullPage = true });

        // The viewer reads through the API but may not change anything, nor open the queue dashboard.
        using var viewer = await LoggedInClientAsync(url, "vera", "viewer-pass");
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync(url + "/api/runs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync(url + "/api/openapi.json")).StatusCode);
        var create = await viewer.PostAsJsonAsync(url + "/api/runs", new { name = "not allowed", yaml = "stages: []" });
        Assert.Equal(HttpStatusCode.Forbidden, create.StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, (await viewer.GetAsync(url + "/hangfire")).StatusCode);
        using var admin = await LoggedInClientAsync(url, "admin", AdminPassword);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(url + "/hangfire")).StatusCode);

        // In the browser the viewer reads pages, but the New run form is refused and Generate offers no button.
        var viewerTab = await (await browser.NewContextAsync()).NewPageAsync();
        await viewerTab.GotoAsync(url + "/login");
        await viewerTab.FillAsync("#userName", "vera");
        await viewerTab.FillAsync("#password", "viewer-pass");
        await viewerTab.ClickAsync("[data-testid=login-submit]");
        await viewerTab.Locator("[data-interactive=true]").WaitForAsync();
        await Assertions.Expect(viewerTab.Locator("[data-testid=signed-in-user]")).ToContainTextAsync("vera (viewer)");
        await viewerTab.GotoAsync(url + "/generate");
        await viewerTab.Locator("[data-interactive=true]").WaitForAsync();
        await Assertions.Expect(viewerTab.GetByText("generating needs the researcher role")).ToBeVisibleAsync();
        Assert.Equal(0, await viewerTab.Locator("[data-testid=generate-submit]").CountAsync());
        await viewerTab.GotoAsync(url + "/runs/new");
        await Assertions.Expect(viewerTab.Locator("[data-testid=not-authorized]")).ToContainTextAsync("Your role does not allow this page");

        // Deleted on the Users page, the viewer's login cookie is refused at once (not after Identity's 30 minutes),
        // and the page the viewer has open goes to the login page within seconds, without a reload.
        await viewerTab.GotoAsync(url + "/runs");
        await viewerTab.Locator("[data-interactive=true]").WaitForAsync();
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync(url + "/api/runs")).StatusCode);
        await tab.GotoAsync(url + "/users");
        await tab.Locator("[data-interactive=true]").WaitForAsync();
        await tab.ClickAsync("[aria-label='Delete vera']");
        await Assertions.Expect(tab.Locator("[data-testid=users-table] tr", new() { HasText = "vera" })).ToHaveCountAsync(0);
        Assert.Equal(HttpStatusCode.Unauthorized, (await viewer.GetAsync(url + "/api/runs")).StatusCode);
        await Assertions.Expect(viewerTab).ToHaveURLAsync(new Regex("/login\\?returnUrl=%2Fruns$"), new() { Timeout = 30_000 });
    }

    /// <summary>Logs in as a script would: the login page's antiforgery token, then the form post; the cookie stays in the client.</summary>
    static async Task<HttpClient> LoggedInClientAsync(string url, string user, string password)
    {
        var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false });
        var login = await client.GetStringAsync(url + "/login");
        var token = Regex.Match(login, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(token), "the login page has no antiforgery token");
        var response = await client.PostAsync(url + "/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["userName"] = user, ["password"] = password, ["returnUrl"] = "/", ["__RequestVerificationToken"] = token,
        }));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/", response.Headers.Location!.OriginalString);
        return client;
    }
}
