using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.TestSupport;

namespace Studio.Worker.Tests;

/// <summary>
/// Many machines for real: web hosts and Studio.Worker processes on PostgreSQL, toy runs of a few hundred tiny updates
/// (a second or two of work each way on this CPU), SIGKILL, cancellation and restarts. One at a time: they share 2 cores.
/// </summary>
[Collection(nameof(ClusterTests))]
[CollectionDefinition(nameof(ClusterTests), DisableParallelization = true)]
public class ClusterTests
{
    /// <summary>
    /// A toy run: toy-small student, 64 px, 4-step trajectories, one prompt per batch, a checkpoint every 10 updates
    /// (all kept), and with <paramref name="sampleEvery"/> one 2-step sample image every that many updates.
    /// </summary>
    internal static string ToyRun(int updates, int checkpointEvery = 10, int sampleEvery = 0) => $$"""
        name: cluster
        seed: 1
        teacher: { pipeline: toy }
        student: { preset: toy-small }
        text: { max_length: 16 }
        trajectory: { steps: 4 }
        optimizer: { batch_size: 1 }
        stages:
          - { name: only, resolution: 64, updates: {{updates}}, prompts: [ { set: "toy:train::8" } ] }
        checkpoints: { every: {{checkpointEvery}}, keep: 0 }
        samples: { every: {{sampleEvery}}, prompts: ["a red circle"], seeds: [0], steps: 2, resolution: 64 }
        validation: { every: 0 }
        threads: 1
        """;

    static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);

    static void AssertCompleteSeries(IReadOnlyList<long> steps, int updates) =>
        Assert.True(steps.SequenceEqual(Enumerable.Range(1, updates).Select(s => (long)s)),
            $"metric steps are not exactly 1..{updates}: {steps.Count} points, missing [{string.Join(",", Enumerable.Range(1, updates).Select(s => (long)s).Except(steps))}]");

    [Fact]
    public async Task AKilledWorkersRunCompletesOnTheOtherWorkerFromItsCheckpointWithACompleteSeries()
    {
        const int updates = 200;
        await using var cluster = await Cluster.CreateAsync();
        var (_, url) = await cluster.StartWebAsync("web");
        var a = cluster.StartWorker("worker-a", "train");
        var b = cluster.StartWorker("worker-b", "train");
        // A worker on another queue sits idle next to them and must never take the run.
        var other = cluster.StartWorker("worker-other", "gpu-80g");
        await cluster.WaitForWorkersAsync(url, a, b, other);

        var id = await cluster.QueueRunAsync(url, "killed mid-way", ToyRun(updates, sampleEvery: 50), "train");
        var running = await cluster.WaitForRunAsync(id, r => r.State == RunState.Running && r.Step >= 15, RunTimeout, "the run did not pass step 15");
        Assert.True(running.Step < updates, "the run finished before it could be killed");
        var victim = running.Worker == Cluster.WorkerName(a) ? a : running.Worker == Cluster.WorkerName(b) ? b
            : throw new Xunit.Sdk.XunitException($"run {id} is on {running.Worker}, neither train worker");
        var survivor = victim == a ? b : a;
        // The Workers page's data: the worker, its device, its heartbeat and the run it is executing.
        var listed = (await cluster.Http.GetFromJsonAsync<JsonElement>($"{url}/api/workers")).EnumerateArray()
            .Single(w => w.GetProperty("name").GetString()!.StartsWith(running.Worker + ":", StringComparison.OrdinalIgnoreCase));
        Assert.True(listed.GetProperty("online").GetBoolean());
        Assert.Equal(["train"], listed.GetProperty("queues").EnumerateArray().Select(q => q.GetString()));
        Assert.True(listed.GetProperty("device").GetProperty("cores").GetInt32() > 0);
        Assert.Contains(listed.GetProperty("currentJobs").EnumerateArray(), j => j.GetString()!.StartsWith($"run {id} "));
        victim.Kill();   // SIGKILL: no checkpoint, no goodbye
        var killedAt = (await cluster.RunAsync(id)).Step;

        var done = await cluster.WaitForRunAsync(id, r => r.State is RunState.Completed or RunState.Failed or RunState.Cancelled,
            RunTimeout, "the run did not end after its worker was killed");
        Assert.True(done.State == RunState.Completed, $"run ended {done.State}: {done.Error}\n{cluster.Outputs()}");
        Assert.Equal(Cluster.WorkerName(survivor), done.Worker);

        var events = await cluster.EventsAsync(id);
        var resumed = Assert.Single(events, e => e.Kind == "Resumed");
        Assert.True(resumed.Step >= 10 && resumed.Step % 10 == 0 && resumed.Step <= killedAt + 10,
            $"resumed at step {resumed.Step}, killed at about {killedAt}");
        Assert.Contains($"resumed at step {resumed.Step}", resumed.Message);
        Assert.Contains(events, e => e.Message.Contains($"Started on {Cluster.WorkerName(survivor)}"));
        // The loss of the worker is in the log: seen by the reconciler (no heartbeat) or by the worker that took over.
        Assert.Contains(events, e => e.Kind == "WorkerLost" || e.Message.Contains($"Worker {Cluster.WorkerName(victim)} was lost"));
        Assert.DoesNotContain(events, e => e.Message.Contains(Cluster.WorkerName(other)));

        // The killed worker comes back on its own data directory and delivers what it had spooled.
        var spool = Path.Combine(cluster.DataDirectory(victim == a ? "worker-a" : "worker-b"), "spool");
        var back = cluster.StartWorker(victim == a ? "worker-a" : "worker-b", "train");
        await cluster.Until(() => Task.FromResult(!Directory.Exists(spool) || Directory.GetFiles(spool).Length == 0),
            TimeSpan.FromSeconds(90), "the restarted worker did not deliver its spool");
        Assert.False(back.HasExited, back.Output);

        AssertCompleteSeries(await cluster.MetricStepsAsync(id), updates);
        var expected = Enumerable.Range(1, updates / 10).Select(k => (long)k * 10).ToList();
        await using var db = await cluster.Db.CreateDbContextAsync();
        var checkpoints = await db.Checkpoints.Where(c => c.RunId == id).ToListAsync();
        Assert.Equal(expected, checkpoints.Select(c => c.Step).Distinct().Order());
        foreach (var step in expected)
            Assert.True(File.Exists(Path.Combine(done.ArtifactFolder!, "checkpoints", $"step-{step:D8}", "manifest.json")), $"checkpoint {step} is missing on the shared root");
        Assert.All(checkpoints, c => Assert.StartsWith(cluster.ArtifactRoot, c.Path));
        // Samples every 50 updates (and the teacher's once), their images on the shared root.
        var samples = await db.Samples.Where(x => x.RunId == id).ToListAsync();
        Assert.Equal([50L, 100, 150, 200], samples.Where(x => !x.IsTeacher).Select(x => x.Step).Order());
        Assert.Single(samples, x => x.IsTeacher);
        Assert.All(samples, x => Assert.True(File.Exists(x.PngPath) && x.PngPath.StartsWith(cluster.ArtifactRoot), x.PngPath));
    }

    [Fact]
    public async Task CancellationReachesARunOnAnotherProcessWhichStopsWithACheckpoint()
    {
        await using var cluster = await Cluster.CreateAsync();
        var (_, url) = await cluster.StartWebAsync("web");
        var worker = cluster.StartWorker("worker", "train");
        await cluster.WaitForWorkersAsync(url, worker);
        // Checkpoints only every 100000 updates: the one it leaves is the cancellation's.
        var id = await cluster.QueueRunAsync(url, "cancelled", ToyRun(100_000, checkpointEvery: 100_000), "train");
        await cluster.WaitForRunAsync(id, r => r.State == RunState.Running && r.Step >= 5, RunTimeout, "the run did not start training");

        var response = await cluster.Http.PostAsync($"{url}/api/runs/{id}/cancel", null);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var stopped = await cluster.WaitForRunAsync(id, r => r.State is not (RunState.Running or RunState.Stopping),
            TimeSpan.FromSeconds(60), "the cancellation did not reach the worker");
        Assert.Equal(RunState.Cancelled, stopped.State);
        await using var db = await cluster.Db.CreateDbContextAsync();
        var checkpoint = Assert.Single(await db.Checkpoints.Where(c => c.RunId == id).ToListAsync());
        Assert.Equal(stopped.Step, checkpoint.Step);
        Assert.True(Directory.Exists(checkpoint.Path), checkpoint.Path);
        Assert.False(worker.HasExited, worker.Output);
        AssertCompleteSeries(await cluster.MetricStepsAsync(id), (int)stopped.Step);
    }

    [Fact]
    public async Task RestartingTheWebHostMidRunLosesNothingAndTheNewHostStreamsTheRemoteRun()
    {
        const int updates = 300;
        await using var cluster = await Cluster.CreateAsync();
        var (web, url) = await cluster.StartWebAsync("web");
        var worker = cluster.StartWorker("worker", "train");
        await cluster.WaitForWorkersAsync(url, worker);
        var id = await cluster.QueueRunAsync(url, "web restarted", ToyRun(updates), "train");
        await cluster.WaitForRunAsync(id, r => r.State == RunState.Running && r.Step >= 10, RunTimeout, "the run did not start training");

        web.Kill();
        var (_, newUrl) = await cluster.StartWebAsync("web");
        // A browser reconnecting to the new host: live batches of the run that a remote worker executes.
        var batches = new List<JsonElement>();
        await using var hub = new HubConnectionBuilder().WithUrl($"{newUrl}/hubs/runs").Build();
        hub.On<JsonElement>("RunBatch", batch => { lock (batches) batches.Add(batch); });
        await hub.StartAsync();
        await hub.InvokeAsync("WatchRun", id);

        var done = await cluster.WaitForRunAsync(id, r => r.State is RunState.Completed or RunState.Failed or RunState.Cancelled,
            RunTimeout, "the run did not end");
        Assert.True(done.State == RunState.Completed, $"run ended {done.State}: {done.Error}");
        AssertCompleteSeries(await cluster.MetricStepsAsync(id), updates);
        var run = await cluster.Http.GetFromJsonAsync<JsonElement>($"{newUrl}/api/runs/{id}");
        Assert.Equal("Completed", run.GetProperty("state").GetString());
        // The host publishes what it reads from the database every half second: the last points follow shortly.
        bool Streamed(long step)
        {
            lock (batches)
                return batches.Any(b => b.GetProperty("metrics").EnumerateArray().Any(p => p.GetProperty("step").GetInt64() == step));
        }
        await cluster.Until(() => Task.FromResult(Streamed(updates)), TimeSpan.FromSeconds(30), $"step {updates} was not streamed by the new host");
        Assert.DoesNotContain(await cluster.EventsAsync(id), e => e.Kind is "Resumed" or "WorkerLost");
    }

    [Fact]
    public async Task WebHostsShareHubMessagesThroughTheRedisBackplane()
    {
        await using var cluster = await Cluster.CreateAsync();
        var redis = new Dictionary<string, string> { ["Studio__Redis"] = TestServices.Redis };
        var (_, first) = await cluster.StartWebAsync("web-1", redis);
        var (_, second) = await cluster.StartWebAsync("web-2", redis);
        // Queued on a queue nobody serves: only web-1's cancellation can produce a message about it.
        var id = await cluster.QueueRunAsync(first, "backplane", ToyRun(10), "nobody");

        var received = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var hub = new HubConnectionBuilder().WithUrl($"{second}/hubs/runs").Build();
        hub.On<JsonElement>("RunBatch", batch =>
        {
            if (batch.GetProperty("events").EnumerateArray().Any(e => e.GetProperty("kind").GetString() == "Cancelled")) received.TrySetResult(batch);
        });
        await hub.StartAsync();
        await hub.InvokeAsync("WatchRun", id);

        var response = await cluster.Http.PostAsync($"{first}/api/runs/{id}/cancel", null);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var batch = await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(id, batch.GetProperty("runId").GetInt32());
        Assert.Equal("Cancelled", batch.GetProperty("status").GetProperty("state").GetString());
    }
}
