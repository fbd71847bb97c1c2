using Studio.TestSupport;

namespace Studio.E2E.Tests;

[Collection("web")]
public class WebHostTests(WebHostFixture host)
{
    readonly HttpClient _http = new();

    [Fact]
    public async Task HomeAndHealthAnswer()
    {
        var home = await _http.GetAsync(host.Url + "/");
        Assert.Equal(200, (int)home.StatusCode);
        Assert.Contains("Distill Studio", await home.Content.ReadAsStringAsync());
        var health = await _http.GetStringAsync(host.Url + "/healthz");
        Assert.Equal("Healthy", health);
    }

    [Fact]
    public async Task RunsHubNegotiates()
    {
        var response = await _http.PostAsync(host.Url + "/hubs/runs/negotiate?negotiateVersion=1", null);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Contains("connectionToken", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task HangfireDashboardAnswersLocally()
    {
        var response = await _http.GetAsync(host.Url + "/hangfire");
        Assert.Equal(200, (int)response.StatusCode);
    }

    [Fact]
    public async Task MudBlazorAssetsAreServedFromBin()
    {
        var css = await _http.GetByteArrayAsync(host.Url + "/_content/MudBlazor/MudBlazor.min.css");
        Assert.True(css.Length > 10_000, $"MudBlazor.min.css is {css.Length} bytes");
        var studioCss = await _http.GetStringAsync(host.Url + "/css/studio.css");
        Assert.Contains("studio-mono", studioCss);
    }

    [Fact]
    public async Task AnUnknownAddressGetsTheNotFoundPageInTheLayoutWithStatus404()
    {
        var page = await _http.GetAsync(host.Url + "/no-such-page");
        Assert.Equal(404, (int)page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("data-testid=\"not-found\"", html);
        Assert.Contains("Prompt sets", html); // the navigation is there to go on from
        // The API keeps its own shape for addresses it does not know.
        var api = await _http.GetAsync(host.Url + "/api/no-such");
        Assert.Equal(404, (int)api.StatusCode);
        Assert.Equal("application/json", api.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no API endpoint GET /api/no-such", await api.Content.ReadAsStringAsync());
        // The page an unhandled exception while rendering lands on exists (it used to be missing: an empty answer).
        var error = await _http.GetStringAsync(host.Url + "/Error");
        Assert.Contains("data-testid=\"server-error\"", error);
    }

    [Fact]
    public void StartupPrintsTheUrlAndCreatesTheDatabase()
    {
        Assert.Contains($"listening on {host.Url}", host.Web.Output);
        Assert.True(File.Exists(Path.Combine(host.DataDirectory, "studio.db")));
    }
}

public class StartupRefusalTests
{
    [Fact]
    public async Task WebRefusesAnUnwritableDataDirectory()
    {
        var file = Path.Combine(StudioProcess.NewTempDirectory("studio-ro"), "file");
        File.WriteAllText(file, "");
        var target = Path.Combine(file, "data");
        await using var web = StudioProcess.Start("Studio.Web", "Studio.Web", new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{StudioProcess.FreePort()}",
            ["Studio__DataDirectory"] = target,
        });
        Assert.Equal(2, await web.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"The data directory '{target}' is not writable", web.Output);
    }

    [Fact]
    public async Task WebRefusesADamagedDatabaseNamingItsFile()
    {
        var data = StudioProcess.NewTempDirectory("studio-damaged-db");
        var damaged = Path.Combine(data, "studio.db");
        File.WriteAllBytes(damaged, Enumerable.Range(0, 4096).Select(i => (byte)(i * 37 % 251)).ToArray());
        await using var web = StudioProcess.Start("Studio.Web", "Studio.Web", new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{StudioProcess.FreePort()}",
            ["Studio__DataDirectory"] = data,
        });
        Assert.Equal(2, await web.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"Distill Studio cannot start: the studio database {damaged} cannot be used: ", web.Output);
        Assert.DoesNotContain("Unhandled exception", web.Output);
    }
}
