using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Studio.Core.Data;
using Studio.TestSupport;
using Xunit.Abstractions;

namespace Studio.Worker.Tests;

/// <summary>A benchmark: skipped unless STUDIO_BENCH=live, so the test runs never wait for it.</summary>
public sealed class LiveBenchFactAttribute : FactAttribute
{
    public LiveBenchFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("STUDIO_BENCH") != "live")
            Skip = "a benchmark (docs/MANY-MACHINES.md, Live latency): set STUDIO_BENCH=live to run it";
    }
}

/// <summary>
/// Issue 15's measurement: the time from the trainer reporting an update to the run page in a real browser drawing
/// that point, for every point of a toy run, in two setups: one web host with its in-process worker on SQLite, and a web
/// host plus a Studio.Worker process on PostgreSQL (<see cref="Cluster"/>). The trainer's moment is the point's own
/// <c>Time</c> (taken where the trainer builds its <c>UpdateMetrics</c>, read back through the HTTP API); the page's is
/// <c>Date.now()</c> in a MutationObserver when the loss chart's point count changes (the DOM update, before paint).
/// Both clocks are this machine's. Prints a table (also written to live-latency.md beside the test assembly), with the
/// one-minute load average after each setup (the machine may be shared), and asserts only that the measurement itself
/// is complete: no speed is checked.
/// </summary>
[Collection(nameof(ClusterTests))]
[Trait("Category", "Bench")]
public class LiveLatencyBench(ITestOutputHelper output)
{
    const int Updates = 300;
    static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(8);

    /// <summary>Records [Date.now(), count] whenever the loss chart's raw point count changes; returns the first record.</summary>
    const string ObserverScript = """
        () => {
          const count = () => {
            const path = document.querySelector('[data-testid=chart-loss] path[data-kind=raw]');
            return path ? parseInt(path.getAttribute('data-count'), 10) : 0;
          };
          let last = count();
          window.__latency = [[Date.now(), last]];
          new MutationObserver(() => {
            const n = count();
            if (n !== last) { last = n; window.__latency.push([Date.now(), n]); }
          }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
          return window.__latency[0];
        }
        """;

    sealed record Result(string Setup, int N, double P50, double P95, double Max, double UpdatesPerSecond, int PageUpdates, string Load);

    [LiveBenchFact]
    public async Task TrainerStepToBrowserPoint()
    {
        var results = new List<Result>();

        var data = StudioProcess.NewTempDirectory("studio-latency");
        try
        {
            var (web, url) = await StudioProcess.StartWebAsync(data, new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" });
            await using (web)
            using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
                results.Add(await MeasureAsync("one process (web host + in-process worker, SQLite)", url, http, "default"));
        }
        finally { try { Directory.Delete(data, recursive: true); } catch (IOException) { } }

        await using (var cluster = await Cluster.CreateAsync())
        {
            var (_, url) = await cluster.StartWebAsync("web");
            var worker = cluster.StartWorker("worker", "train");
            await cluster.WaitForWorkersAsync(url, worker);
            results.Add(await MeasureAsync("two processes (web host + Studio.Worker, PostgreSQL)", url, cluster.Http, "train"));
        }

        var table = new StringBuilder()
            .AppendLine($"Live latency, trainer update to the run page's loss chart (ms), {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores")
            .AppendLine()
            .AppendLine("| setup | n | p50 | p95 | max | updates/s | page updates | load average after |")
            .AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
            table.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Setup} | {r.N} | {r.P50:0} | {r.P95:0} | {r.Max:0} | {r.UpdatesPerSecond:0.#} | {r.PageUpdates} | {r.Load} |"));
        output.WriteLine(table.ToString());
        File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "live-latency.md"), table.ToString());
    }

    /// <summary>Queues a toy run, watches its page from before the first point until the last is drawn, and pairs each point with the moment it appeared.</summary>
    async Task<Result> MeasureAsync(string setup, string url, HttpClient http, string queue)
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 1700 } });

        var response = await http.PostAsJsonAsync($"{url}/api/runs",
            new { name = "live latency", configYaml = ClusterTests.ToyRun(Updates, checkpointEvery: Updates), queue });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt32();

        await page.GotoAsync($"{url}/runs/{id}");
        await page.Locator("[data-interactive=true]").WaitForAsync();
        var first = await page.EvaluateAsync<double[]>(ObserverScript);
        var (watchedFrom, countAtStart) = (first[0], (long)first[1]);

        var deadline = DateTime.UtcNow + RunTimeout;
        string state;
        while ((state = (await http.GetFromJsonAsync<JsonElement>($"{url}/api/runs/{id}")).GetProperty("state").GetString()!) is "Queued" or "Running" or "Stopping")
        {
            Assert.True(DateTime.UtcNow < deadline, $"run {id} did not finish within {RunTimeout.TotalMinutes} min");
            await Task.Delay(1000);
        }
        Assert.Equal("Completed", state);
        double[][] seen;
        var drawnBy = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((seen = await page.EvaluateAsync<double[][]>("() => window.__latency"))[^1][1] < Updates)
        {
            Assert.True(DateTime.UtcNow < drawnBy, $"the page drew {seen[^1][1]} of {Updates} points ({seen.Length} changes; " +
                $"it says '{await page.Locator("[data-testid=run-step]").TextContentAsync()}')");
            await Task.Delay(500);
        }

        var points = await http.GetFromJsonAsync<List<MetricPoint>>($"{url}/api/runs/{id}/metrics?after=0&limit=100000") ?? [];
        Assert.Equal(Enumerable.Range(1, Updates).Select(s => (long)s), points.Select(p => p.Step));

        // Point k is on the chart from the first record whose count reaches k (the series is steps 1..N, in order).
        var latencies = new List<double>();
        foreach (var p in points)
        {
            var producedAt = (p.Time - DateTime.UnixEpoch).TotalMilliseconds;
            if (p.Step <= countAtStart || producedAt < watchedFrom) continue;   // drawn or produced before the page watched
            var shownAt = seen.First(s => s[1] >= p.Step)[0];
            latencies.Add(shownAt - producedAt);
        }
        Assert.True(latencies.Count >= Updates / 2, $"only {latencies.Count} of {Updates} points were produced while the page watched");
        latencies.Sort();
        double Percentile(double q) => latencies[Math.Max(0, (int)Math.Ceiling(q * latencies.Count) - 1)];
        var span = (points[^1].Time - points[0].Time).TotalSeconds;
        return new Result(setup, latencies.Count, Percentile(0.5), Percentile(0.95), latencies[^1], (Updates - 1) / span, seen.Length - 1,
            File.ReadAllText("/proc/loadavg").Split(' ')[0]);
    }
}
