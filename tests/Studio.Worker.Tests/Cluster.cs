using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.TestSupport;

namespace Studio.Worker.Tests;

/// <summary>
/// A studio on many "machines" inside one test: web hosts and Studio.Worker processes on one PostgreSQL database
/// (studio and Hangfire), each with its own data directory (its own spool), sharing one artifact root. Heartbeats and
/// timeouts are short so that a lost worker is noticed in seconds. Disposal kills every process, drops the database
/// and deletes the folders, whatever the test's outcome.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    public const int HeartbeatSeconds = 1;
    public const int WorkerTimeoutSeconds = 6;
    public const int InvisibilityTimeoutSeconds = 8;

    readonly List<StudioProcess> _processes = [];
    public TestDatabase Database { get; }
    public string Root { get; } = StudioProcess.NewTempDirectory("studio-cluster");
    public string ArtifactRoot => Path.Combine(Root, "artifacts");
    public IDbContextFactory<StudioDbContext> Db { get; }
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    Cluster(TestDatabase database)
    {
        Database = database;
        Db = database.Factory();
    }

    public static async Task<Cluster> CreateAsync() => new(await TestServices.CreateDatabaseAsync());

    public Dictionary<string, string> Environment(string dataDirectory, IDictionary<string, string>? extra = null)
    {
        var env = new Dictionary<string, string>
        {
            ["Studio__DataDirectory"] = dataDirectory,
            ["Studio__Database__Provider"] = "postgres",
            ["Studio__Database__ConnectionString"] = Database.ConnectionString,
            ["Studio__Hangfire__InvisibilityTimeoutSeconds"] = InvisibilityTimeoutSeconds.ToString(),
            ["Studio__ArtifactRoot"] = ArtifactRoot,
            ["Studio__HeartbeatSeconds"] = HeartbeatSeconds.ToString(),
            ["Studio__WorkerTimeoutSeconds"] = WorkerTimeoutSeconds.ToString(),
            ["Studio__QueuePollMilliseconds"] = "200",
            ["Studio__InProcessWorker"] = "false",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        if (extra is not null) foreach (var (k, v) in extra) env[k] = v;
        return env;
    }

    public string DataDirectory(string name) => Path.Combine(Root, name);

    /// <summary>Starts a web host (no in-process worker) on a free port and waits until it is healthy.</summary>
    public async Task<(StudioProcess Process, string Url)> StartWebAsync(string name, IDictionary<string, string>? extra = null)
    {
        var url = $"http://127.0.0.1:{StudioProcess.FreePort()}";
        var env = Environment(DataDirectory(name), extra);
        env["Urls"] = url;
        var process = Track(StudioProcess.Start("Studio.Web", "Studio.Web", env));
        await StudioProcess.WaitForHealthyAsync(process, url, TimeSpan.FromSeconds(120));
        return (process, url);
    }

    /// <summary>Starts a Studio.Worker on <paramref name="queues"/> with its own data directory (reused when the name is).</summary>
    public StudioProcess StartWorker(string name, string queues) =>
        Track(StudioProcess.Start("Studio.Worker", "Studio.Worker", Environment(DataDirectory(name), new Dictionary<string, string> { ["Studio__Queues"] = queues })));

    StudioProcess Track(StudioProcess process) { lock (_processes) _processes.Add(process); return process; }

    /// <summary>The Hangfire server name of a worker process (WorkerIdentity: "worker:HOST:PID").</summary>
    public static string WorkerName(StudioProcess worker) => $"worker:{System.Environment.MachineName}:{worker.Id}";

    /// <summary>Waits until the web host lists these workers online.</summary>
    public async Task WaitForWorkersAsync(string webUrl, params StudioProcess[] workers)
    {
        await Until(async () =>
        {
            foreach (var w in workers) Assert.False(w.HasExited, $"worker exited:\n{w.Output}");
            var listed = await Http.GetFromJsonAsync<JsonElement>($"{webUrl}/api/workers");
            var online = listed.EnumerateArray().Where(w => w.GetProperty("online").GetBoolean()).Select(w => w.GetProperty("name").GetString()!).ToList();
            return workers.All(w => online.Any(n => n.StartsWith(WorkerName(w) + ":", StringComparison.OrdinalIgnoreCase)));
        }, TimeSpan.FromSeconds(120), "workers did not register");
    }

    public async Task<int> QueueRunAsync(string webUrl, string name, string yaml, string queue)
    {
        var response = await Http.PostAsJsonAsync($"{webUrl}/api/runs", new { name, configYaml = yaml, queue });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt32();
    }

    public async Task<Run> RunAsync(int id)
    {
        await using var db = await Db.CreateDbContextAsync();
        return await db.Runs.AsNoTracking().SingleAsync(r => r.Id == id);
    }

    public async Task<List<RunEvent>> EventsAsync(int id)
    {
        await using var db = await Db.CreateDbContextAsync();
        return await db.RunEvents.AsNoTracking().Where(e => e.RunId == id).OrderBy(e => e.Id).ToListAsync();
    }

    public async Task<List<long>> MetricStepsAsync(int id)
    {
        await using var db = await Db.CreateDbContextAsync();
        return await db.MetricPoints.Where(p => p.RunId == id).OrderBy(p => p.Step).Select(p => p.Step).ToListAsync();
    }

    /// <summary>Polls until the run satisfies <paramref name="condition"/>; fails with the run's log and the processes' output.</summary>
    public async Task<Run> WaitForRunAsync(int id, Func<Run, bool> condition, TimeSpan timeout, string what)
    {
        Run? run = null;
        await Until(async () => condition(run = await RunAsync(id)), timeout, what, async () =>
            $"run {id} is {run?.State} at step {run?.Step} on {run?.Worker}; log:\n" +
            string.Join("\n", (await EventsAsync(id)).Select(e => $"  [{e.Kind}] {e.Step}: {e.Message}")));
        return run!;
    }

    public async Task Until(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<Task<string>>? describe = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{what} within {timeout.TotalSeconds:0} s. " + (describe is null ? "" : await describe()) + "\n" + Outputs());
            await Task.Delay(200);
        }
    }

    public string Outputs()
    {
        lock (_processes)
            return string.Join("\n", _processes.Select(p => $"--- process {p.Id} ---\n{Tail(p.Output, 4000)}"));
    }

    static string Tail(string text, int chars) => text.Length <= chars ? text : "..." + text[^chars..];

    public async ValueTask DisposeAsync()
    {
        List<StudioProcess> processes;
        lock (_processes) processes = [.. _processes];
        foreach (var p in processes) await p.DisposeAsync();
        Http.Dispose();
        try { await Database.DisposeAsync(); } catch (Exception e) { Console.Error.WriteLine($"could not drop the test database: {e.Message}"); }
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
