using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Studio.Core.Data;

namespace Studio.Web.Tests.BadInput;

/// <summary>
/// Every case of <see cref="BadInputCorpus"/> against the HTTP API: a 4xx (never a 500, never an empty body) whose
/// message names the field or file at fault in plain words (no .NET type names), nothing queued, no row and no file written.
/// </summary>
public sealed class BadInputTests(ApiHost host) : IClassFixture<ApiHost>
{
    public static IEnumerable<object[]> Yaml => BadInputCorpus.Ids("yaml");
    public static IEnumerable<object[]> Bodies => BadInputCorpus.Ids("body");
    public static IEnumerable<object[]> Queries => BadInputCorpus.Ids("query");

    [Fact]
    public void TheCorpusCoversItsCategories()
    {
        Assert.True(BadInputCorpus.Cases.Count >= 300, $"{BadInputCorpus.Cases.Count} cases");
        foreach (var category in new[] { "yaml/", "body/", "query/" })
            Assert.Contains(BadInputCorpus.Cases.Keys, k => k.StartsWith(category, StringComparison.Ordinal));
    }

    [Theory, MemberData(nameof(Yaml))]
    public Task RunYamlIsRefusedByField(string id) => RefusedAsync(id);

    [Theory, MemberData(nameof(Bodies))]
    public Task BodiesAreRefusedByField(string id) => RefusedAsync(id);

    [Theory, MemberData(nameof(Queries))]
    public Task QueryValuesAreRefusedByName(string id) => RefusedAsync(id);

    async Task RefusedAsync(string id)
    {
        var c = BadInputCorpus.Cases[id];
        var before = await host.StateAsync();
        using var request = new HttpRequestMessage(new HttpMethod(c.Method), host.Fill(c.Path));
        if (c.Body is not null) request.Content = new StringContent(host.Fill(c.Body), Encoding.UTF8, "application/json");
        using var response = await host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode is >= 400 and < 500, $"{(int)response.StatusCode}: {text}");
        var message = Message(text);
        Assert.False(string.IsNullOrWhiteSpace(message), $"no message in '{text}'");
        foreach (var expected in c.Expect) Assert.Contains(host.Fill(expected), message);
        Assert.DoesNotMatch(new Regex(@"System\.|Studio\.\w+\.\w+\.|Version=|No node deserializer"), message);
        Assert.Equal(before, await host.StateAsync());
    }

    /// <summary>The answer's "error" and its problems ("field: message"), as a person reads them.</summary>
    static string Message(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var problems = root.TryGetProperty("problems", out var list)
            ? list.EnumerateArray().Select(p => $"{p.GetProperty("field").GetString()}: {p.GetProperty("message").GetString()}")
            : [];
        return string.Join("\n", problems.Prepend(root.GetProperty("error").GetString()));
    }

    [Fact]
    public async Task AValidRunIsQueuedOnItsQueueAndTheApiGenerationExampleWorksAsWritten()
    {
        var jobs = host.Jobs.Created.Count;
        var created = await host.Http.PostAsJsonAsync("/api/runs", new { name = "valid", configYaml = ApiHost.ToyYaml(), queue = "cpu" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("cpu", host.Jobs.Created[jobs].Queue);
        // The short YAML the browser test queues is enough: every other field has its default.
        const string minimal = "student: { preset: toy-base }\ntext: { max_length: 32 }\nstages: [ { name: s, resolution: 64, updates: 1, prompts: [ { set: 'toy:train' } ] } ]\n";
        var short_ = await host.Http.PostAsJsonAsync("/api/runs", new { name = "minimal", configYaml = minimal });
        Assert.True(short_.StatusCode == HttpStatusCode.Created, await short_.Content.ReadAsStringAsync());
        // Asking for each checkpoint to be evaluated is stored on the run (the JSON answer is the run).
        var each = await host.Http.PostAsJsonAsync("/api/runs", new { name = "each", configYaml = minimal, evaluateEachCheckpoint = true });
        var eachRun = JsonDocument.Parse(await each.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal((HttpStatusCode.Created, true, false), (each.StatusCode, eachRun.GetProperty("evaluateEachCheckpoint").GetBoolean(), eachRun.GetProperty("evaluateWhenDone").GetBoolean()));
        // With settings: those given, the defaults for the others.
        var cheap = await host.Http.PostAsJsonAsync("/api/runs", new { name = "cheap", configYaml = minimal, evaluateWhenDone = true, evaluation = new { promptsPerCategory = 4, steps = 8 } });
        var cheapRun = JsonDocument.Parse(await cheap.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.Created, cheap.StatusCode);
        var settings = JsonDocument.Parse(cheapRun.GetProperty("evaluationSettingsJson").GetString()!).RootElement;
        Assert.Equal(("heldout", 4, 1, 8, 3.5), (settings.GetProperty("Split").GetString(), settings.GetProperty("PromptsPerCategory").GetInt32(),
            settings.GetProperty("Seeds").GetInt32(), settings.GetProperty("Steps").GetInt32(), settings.GetProperty("Guidance").GetDouble()));

        // The HTTP API document's curl example, verbatim: checkpoint 3 exists (seeded), the toy teacher is the default pipeline.
        var readme = File.ReadAllText(Path.Combine(Studio.Tests.RepoRoot.Folder, "docs", "HTTP-API.md"));
        var example = Regex.Match(readme, @"curl -s -X POST \$URL/api/generations [^\n]*\\\n\s*-d '([^']*)'");
        Assert.True(example.Success, "docs/HTTP-API.md has no generation example");
        var response = await host.Http.PostAsync("/api/generations", new StringContent(example.Groups[1].Value, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        var generation = JsonDocument.Parse(text).RootElement;
        // The toy teacher draws 64x64, as the Generate page picks for it; steps as the example gives them.
        Assert.Equal((64, 64, 28), (generation.GetProperty("width").GetInt32(), generation.GetProperty("height").GetInt32(), generation.GetProperty("steps").GetInt32()));
        Assert.Equal("interactive", host.Jobs.Created[^1].Queue);

        var defaults = await host.Http.PostAsJsonAsync("/api/generations", new { prompt = "a red cube" });
        var d = JsonDocument.Parse(await defaults.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal((64, 64, 20), (d.GetProperty("width").GetInt32(), d.GetProperty("height").GetInt32(), d.GetProperty("steps").GetInt32()));
        Assert.Equal((1.0, ""), (d.GetProperty("trueCfgScale").GetDouble(), d.GetProperty("negativePrompt").GetString()));
        var guided = await host.Http.PostAsJsonAsync("/api/generations", new { prompt = "a red cube", trueCfgScale = 3, negativePrompt = "" });
        var gd = JsonDocument.Parse(await guided.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal((3.0, ""), (gd.GetProperty("trueCfgScale").GetDouble(), gd.GetProperty("negativePrompt").GetString()));
    }

    [Fact]
    public async Task AFolderThatFailsItsChecksIsNotRegisteredAsAModel()
    {
        await using var scope = host.Services.CreateAsyncScope();
        var models = scope.ServiceProvider.GetRequiredService<Studio.Core.ModelRegistry.ModelService>();
        var empty = Directory.CreateDirectory(Path.Combine(host.Data, "not-a-pipeline")).FullName;
        await using var db = await host.Db.CreateDbContextAsync();
        var count = await db.Models.CountAsync();
        var refused = await Assert.ThrowsAsync<Studio.Core.Runs.RunActionException>(() => models.RegisterAsync(null, ModelKind.TeacherPipeline, empty));
        Assert.Contains($"'{empty}' is not registered: ", refused.Message);
        await Assert.ThrowsAsync<Studio.Core.Hosting.PathNotAllowedException>(() => models.RegisterAsync(null, ModelKind.TeacherPipeline, Path.Combine(host.Data, "escape")));
        Assert.Equal(count, await db.Models.CountAsync());
    }

    [Fact]
    public async Task ARunsSeriesDownloadAsCsvFilesNamedAfterTheRun()
    {
        await using (var db = await host.Db.CreateDbContextAsync())
        {
            if (!await db.MetricPoints.AnyAsync(p => p.RunId == host.CompletedRun))
            {
                db.MetricPoints.Add(new MetricPoint { RunId = host.CompletedRun, Step = 1, Time = DateTime.UtcNow, Loss = 0.5, LearningRate = 1e-3 });
                await db.SaveChangesAsync();
            }
        }
        using var metrics = await host.Http.GetAsync($"/api/runs/{host.CompletedRun}/metrics.csv");
        Assert.Equal(("text/csv", $"run-{host.CompletedRun}-metrics.csv"),
            (metrics.Content.Headers.ContentType?.MediaType, metrics.Content.Headers.ContentDisposition?.FileName));
        var lines = (await metrics.Content.ReadAsStringAsync()).Split("\r\n");
        Assert.StartsWith("step,stage,time_utc,elapsed_s,loss,", lines[0]);
        Assert.StartsWith("1,1,", lines[1]);
        Assert.Contains(",0.5,0.001,", lines[1]);

        using var validation = await host.Http.GetAsync($"/api/runs/{host.CompletedRun}/validation.csv");
        Assert.Equal($"run-{host.CompletedRun}-validation.csv", validation.Content.Headers.ContentDisposition?.FileName);
        Assert.Equal("step,stage,time_utc,category,vision_loss,embedding_cosine\r\n", await validation.Content.ReadAsStringAsync());
        using var evaluations = await host.Http.GetAsync($"/api/runs/{host.CompletedRun}/evaluations.csv");
        Assert.Equal($"run-{host.CompletedRun}-evaluations.csv", evaluations.Content.Headers.ContentDisposition?.FileName);
        Assert.StartsWith("evaluation_id,encoder,step,split,", await evaluations.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// An unknown id in the address answers 404 on every action, as it does on every read (HTTP-API.md); an unknown id in
    /// a body (what an evaluation is of) stays a 400 naming the field's value. Nothing changes either way.
    /// </summary>
    [Fact]
    public async Task AnUnknownIdInTheAddressIs404OnEveryAction()
    {
        var before = await host.StateAsync();
        foreach (var (method, path, body, message) in new[]
        {
            ("POST", "/api/runs/999999/cancel", null, "no run 999999"), ("POST", "/api/runs/999999/resume", "{}", "no run 999999"),
            ("PATCH", "/api/runs/999999", "{\"notes\":\"x\"}", "no run 999999"), ("DELETE", "/api/runs/999999", null, "no run 999999"),
            ("POST", "/api/checkpoints/999999/fork", "{}", "no checkpoint 999999"), ("POST", "/api/checkpoints/999999/export", "{\"format\":\"t5\"}", "no checkpoint 999999"),
            ("DELETE", "/api/checkpoints/999999", null, "no checkpoint 999999"), ("POST", "/api/generations/999999/cancel", null, "no generation 999999"),
            ("POST", "/api/evaluations/999999/cancel", null, "no evaluation 999999"),
        })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await host.Http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {path}: {(int)response.StatusCode} {text}");
            Assert.Equal(message, Message(text));
        }
        using var inBody = await host.Http.PostAsync("/api/evaluations", JsonContent.Create(new { checkpointId = 999999 }));
        Assert.Equal(HttpStatusCode.BadRequest, inBody.StatusCode);
        Assert.Equal(before, await host.StateAsync());
    }

    /// <summary>A body sent as text or as a form is answered 415 with the API's JSON error naming the Content-Type to send, not an empty body.</summary>
    [Fact]
    public async Task ABodyThatIsNotSentAsJsonIsNamed()
    {
        var before = await host.StateAsync();
        foreach (var type in new[] { "text/plain", "application/x-www-form-urlencoded" })
        {
            using var response = await host.Http.PostAsync("/api/runs", new StringContent("{\"name\":\"x\"}", Encoding.UTF8, type));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.UnsupportedMediaType, $"{type}: {(int)response.StatusCode} {text}");
            Assert.StartsWith("POST /api/runs takes a JSON body: send it with Content-Type: application/json (not '" + type, Message(text));
        }
        Assert.Equal(before, await host.StateAsync());
    }

    [Fact]
    public async Task ARunIsRenamedAndAnnotatedOverHttpAndABlankNameIsRefusedByField()
    {
        using var refused = await host.Http.PatchAsync($"/api/runs/{host.CompletedRun}", JsonContent.Create(new { name = " " }));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("\"field\":\"name\",\"message\":\"a run needs a name\"", await refused.Content.ReadAsStringAsync());

        using var edited = await host.Http.PatchAsync($"/api/runs/{host.CompletedRun}", JsonContent.Create(new { notes = "the seeded run" }));
        Assert.Equal(HttpStatusCode.OK, edited.StatusCode);
        var run = JsonDocument.Parse(await edited.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("seeded", "the seeded run"), (run.GetProperty("name").GetString(), run.GetProperty("notes").GetString()));
    }

    [Fact]
    public async Task AStudentSampleComesAsAHeatImageAgainstTheTeachersSampleOfTheSamePromptAndSeed()
    {
        var folder = Directory.CreateDirectory(Path.Combine(host.Options.ArtifactRoot, "runs", $"run-{host.CompletedRun}", "samples")).FullName;
        string Png(string name, SkiaSharp.SKColor colour)
        {
            using var bitmap = new SkiaSharp.SKBitmap(4, 4);
            bitmap.Erase(colour);
            var path = Path.Combine(folder, name);
            using (var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100)) File.WriteAllBytes(path, data.ToArray());
            return path;
        }
        var teacher = new SampleEntry { RunId = host.CompletedRun, Step = 0, PromptIndex = 0, Seed = 3, IsTeacher = true, PngPath = Png("t.png", SkiaSharp.SKColors.Black) };
        var student = new SampleEntry { RunId = host.CompletedRun, Step = 100, PromptIndex = 0, Seed = 3, PngPath = Png("s.png", SkiaSharp.SKColors.White) };
        var other = new SampleEntry { RunId = host.CompletedRun, Step = 100, PromptIndex = 1, Seed = 3, PngPath = Png("o.png", SkiaSharp.SKColors.White) };
        await using (var db = await host.Db.CreateDbContextAsync())
        {
            db.Samples.AddRange(teacher, student, other);
            await db.SaveChangesAsync();
        }

        using var heat = await host.Http.GetAsync($"/api/runs/{host.CompletedRun}/samples/{student.Id}/difference");
        Assert.Equal("image/png", heat.Content.Headers.ContentType?.MediaType);
        using (var image = SkiaSharp.SKBitmap.Decode(await heat.Content.ReadAsByteArrayAsync()))
            Assert.Equal(SkiaSharp.SKColors.White, image.GetPixel(1, 1)); // black against white: the largest difference
        foreach (var (id, why) in new[] { (teacher.Id, "the teacher's own"), (other.Id, "no teacher sample of prompt 1") })
        {
            using var refused = await host.Http.GetAsync($"/api/runs/{host.CompletedRun}/samples/{id}/difference");
            Assert.True(refused.StatusCode == HttpStatusCode.NotFound, why);
            Assert.Contains("has no student sample", await refused.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task TheBuiltInToyTeacherCannotBeUnregistered()
    {
        await using var scope = host.Services.CreateAsyncScope();
        var models = scope.ServiceProvider.GetRequiredService<Studio.Core.ModelRegistry.ModelService>();
        await using var db = await host.Db.CreateDbContextAsync();
        var toy = await db.Models.SingleAsync(m => m.Folder == Studio.Core.ModelRegistry.ModelFolders.ToyTeacher);
        var refused = await Assert.ThrowsAsync<Studio.Core.Runs.RunActionException>(() => models.UnregisterAsync(toy.Id));
        Assert.Equal("'toy teacher (built-in)' is built in and cannot be unregistered", refused.Message);
        Assert.True(await db.Models.AnyAsync(m => m.Id == toy.Id));
    }
}
