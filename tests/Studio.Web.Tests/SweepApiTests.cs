using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Studio.Ml.Distillation;
using Studio.Web.Tests.BadInput;

namespace Studio.Web.Tests;

/// <summary>POST /api/sweeps as a script uses it: a preview, then one queued run per combination, found again by group.</summary>
public sealed class SweepApiTests(ApiHost host) : IClassFixture<ApiHost>
{
    static object Sweep(string name) => new
    {
        name,
        configYaml = ApiHost.ToyYaml(),
        queue = "cpu",
        axes = new object[] { new { field = "optimizer.lr", values = new[] { "1e-4", "3e-4" } }, new { field = "seed", values = new[] { "1", "2" } } },
    };

    [Fact]
    public async Task APreviewQueuesNothingThenTheSweepQueuesEveryCombinationInItsGroup()
    {
        var before = await host.StateAsync();
        var preview = await host.Http.PostAsJsonAsync("/api/sweeps?preview=true", Sweep("lr x seed"));
        Assert.Equal(HttpStatusCode.OK, preview.StatusCode);
        using (var shown = JsonDocument.Parse(await preview.Content.ReadAsStringAsync()))
        {
            var runs = shown.RootElement.EnumerateArray().ToList();
            Assert.Equal(["lr x seed · lr=1e-4, seed=1", "lr x seed · lr=1e-4, seed=2", "lr x seed · lr=3e-4, seed=1", "lr x seed · lr=3e-4, seed=2"],
                runs.Select(r => r.GetProperty("name").GetString()));
            Assert.Equal("3e-4", runs[3].GetProperty("settings").GetProperty("optimizer.lr").GetString());
            Assert.Equal(2, RunConfig.FromYaml(runs[3].GetProperty("configYaml").GetString()!).Seed);
        }
        Assert.Equal(before, await host.StateAsync());

        var jobs = host.Jobs.Created.Count;
        var created = await host.Http.PostAsJsonAsync("/api/sweeps", Sweep("lr x seed"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/api/runs?group=lr%20x%20seed", created.Headers.Location?.OriginalString);
        Assert.Equal(4, host.Jobs.Created.Count - jobs);
        Assert.All(host.Jobs.Created.Skip(jobs), j => Assert.Equal("cpu", j.Queue));

        var listed = await host.Http.GetFromJsonAsync<JsonElement>(created.Headers.Location!.OriginalString);
        Assert.Equal(4, listed.GetArrayLength());
        Assert.All(listed.EnumerateArray(), r => Assert.Equal("lr x seed", r.GetProperty("group").GetString()));
        await using var db = await host.Db.CreateDbContextAsync();
        Assert.Equal([1e-4, 1e-4, 3e-4, 3e-4], (await db.Runs.Where(r => r.Group == "lr x seed").OrderBy(r => r.Id).ToListAsync())
            .Select(r => RunConfig.FromYaml(r.ConfigYaml).Optimizer.Lr));

        // A run can leave its group, or join another, by PATCH.
        var first = listed.EnumerateArray().Last().GetProperty("id").GetInt32();
        var moved = await host.Http.PatchAsJsonAsync($"/api/runs/{first}", new { group = "baseline" });
        Assert.Equal(HttpStatusCode.OK, moved.StatusCode);
        Assert.Equal(3, (await host.Http.GetFromJsonAsync<JsonElement>("/api/runs?group=lr%20x%20seed")).GetArrayLength());
        Assert.Equal(first, (await host.Http.GetFromJsonAsync<JsonElement>("/api/runs?group=baseline"))[0].GetProperty("id").GetInt32());
    }

    [Fact]
    public async Task ARandomSearchQueuesItsDrawsAndTheSameSeedDrawsTheSameRuns()
    {
        object Random(int seed) => new
        {
            name = "random lr",
            configYaml = ApiHost.ToyYaml(),
            queue = "cpu",
            randomRuns = 5,
            randomSeed = seed,
            axes = new object[] { new { field = "optimizer.lr", values = new[] { "loguniform(1e-5, 1e-3)" } }, new { field = "seed", values = new[] { "range(0, 3)" } } },
        };
        async Task<List<string>> PreviewAsync(int seed)
        {
            var preview = await host.Http.PostAsJsonAsync("/api/sweeps?preview=true", Random(seed));
            Assert.Equal(HttpStatusCode.OK, preview.StatusCode);
            using var shown = JsonDocument.Parse(await preview.Content.ReadAsStringAsync());
            return shown.RootElement.EnumerateArray().Select(r => r.GetProperty("name").GetString()!).ToList();
        }
        var names = await PreviewAsync(seed: 11);
        Assert.Equal(5, names.Count);
        Assert.Equal(names, await PreviewAsync(seed: 11));
        Assert.NotEqual(names, await PreviewAsync(seed: 12));

        var jobs = host.Jobs.Created.Count;
        var created = await host.Http.PostAsJsonAsync("/api/sweeps", Random(11));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(5, host.Jobs.Created.Count - jobs);
        await using var db = await host.Db.CreateDbContextAsync();
        var runs = await db.Runs.Where(r => r.Group == "random lr").OrderBy(r => r.Id).ToListAsync();
        Assert.Equal(names, runs.Select(r => r.Name));
        Assert.All(runs, r => Assert.InRange(RunConfig.FromYaml(r.ConfigYaml).Optimizer.Lr, 1e-5, 1e-3));
        Assert.All(runs, r => Assert.InRange(RunConfig.FromYaml(r.ConfigYaml).Seed, 0, 2));
    }
}
