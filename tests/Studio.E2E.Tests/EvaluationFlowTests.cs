using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Studio.E2E.Tests;

/// <summary>
/// A run from the form that evaluates each checkpoint as it is written, against the real app: with checkpoints.keep 1,
/// the embedded worker evaluates the teacher and both checkpoints, the older checkpoint is deleted only once evaluated,
/// and the run page charts both evaluations.
/// </summary>
[Collection("web")]
public class EvaluationFlowTests(WebHostFixture host)
{
    readonly HttpClient _http = new();

    [Fact]
    public async Task ARunThatEvaluatesEachCheckpointIsChartedOverTrainingAndKeepsWhatKeepSaysOnceEvaluated()
    {
        Assertions.SetDefaultExpectTimeout(60_000);
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await NewRunPage.OpenAsync(browser, host.Url);

        await NewRunPage.TinyToyRunAsync(page, "e2e each checkpoint", updates: 4, checkpointEvery: 2, validationEvery: 2);
        await Browser.SetAsync(page, "run-checkpoint-keep", "1");
        await page.GetByText("Evaluate each checkpoint", new() { Exact = true }).ClickAsync();
        // Cheap evaluations: one prompt per category, two denoising steps.
        await Browser.SetAsync(page, "run-evaluation-prompts", "1");
        await Browser.SetAsync(page, "run-evaluation-steps", "2");
        await page.Locator("[data-testid=run-submit]").ClickAsync();
        await page.WaitForURLAsync(new Regex(@"/runs/\d+$"));
        var runId = int.Parse(Regex.Match(page.Url, @"/runs/(\d+)$").Groups[1].Value);

        // The run completes; its two checkpoints' evaluations and its teacher's end.
        var (run, evaluations) = await WaitForRunAndEvaluationsAsync(runId,
            v => v.GetProperty("runId").ValueKind == JsonValueKind.Null || v.GetProperty("runId").GetInt32() == runId);
        Assert.Equal("Completed", run.GetProperty("state").GetString());
        var own = evaluations.EnumerateArray().Where(v => v.GetProperty("runId").ValueKind != JsonValueKind.Null && v.GetProperty("runId").GetInt32() == runId).ToList();
        Assert.Equal([2L, 4L], own.Select(v => v.GetProperty("step").GetInt64()).Order());
        Assert.All(own, v => Assert.True(v.GetProperty("state").GetString() == "Completed", v.GetProperty("error").ToString()));
        Assert.All(own, v => Assert.Equal((1, 2), (v.GetProperty("promptsPerCategory").GetInt32(), v.GetProperty("steps").GetInt32())));
        Assert.Contains(evaluations.EnumerateArray(), v => v.GetProperty("runId").ValueKind == JsonValueKind.Null
            && v.GetProperty("state").GetString() == "Completed" && v.GetProperty("promptsPerCategory").GetInt32() == 1 && v.GetProperty("steps").GetInt32() == 2);
        // Each evaluation kept its images to be looked at: a PNG figure, the checkpoint's images beside the teacher's.
        foreach (var v in own)
        {
            using var figure = await _http.GetAsync($"{host.Url}/api/evaluations/{v.GetProperty("id").GetInt32()}/figure");
            Assert.Equal(System.Net.HttpStatusCode.OK, figure.StatusCode);
            Assert.Equal("image/png", figure.Content.Headers.ContentType?.MediaType);
            var png = await figure.Content.ReadAsByteArrayAsync();
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        }
        using (var none = await _http.GetAsync($"{host.Url}/api/evaluations/999999/figure"))
            Assert.Equal(System.Net.HttpStatusCode.NotFound, none.StatusCode);

        // keep 1: the step-2 checkpoint was deleted, but only after its evaluation (which completed above). Whether the
        // trainer had to hold it depends on which finished first, the evaluation or the next checkpoint (the Core tests
        // hold it on purpose); either way the log says it went. When the trainer held it, the evaluation job deletes it
        // just after it stores the evaluation as completed, so the line is waited for.
        var removed = await WaitForLogLineAsync(runId, e => e.Kind == "CheckpointRemoved" && e.Message.StartsWith("checkpoint step-00000002 removed"));
        Assert.True(removed, "no CheckpointRemoved line for step-00000002 in the run's log");
        var checkpoints = await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/runs/{runId}/checkpoints");
        Assert.Equal([4L], checkpoints.EnumerateArray().Select(c => c.GetProperty("step").GetInt64()));

        // The page charts both evaluations against their steps (the difference to the teacher's images, the chart's first
        // metric) and says the run evaluates each checkpoint.
        await page.Locator(".mud-tab", new() { HasTextString = "Checkpoints" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=evaluates-each-checkpoint]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-testid=evaluations-over-training] [data-point]")).ToHaveCountAsync(2);
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("evaluation-over-training"), FullPage = true });
    }

    [Fact]
    public async Task ARunOnAFluxTeacherOutsideTheToyWorldHasItsCheckpointsMeasuredByTeacherAgreement()
    {
        Assertions.SetDefaultExpectTimeout(60_000);
        // The toy teacher's weights without its README, inside the data directory: a FLUX pipeline the evaluator cannot score.
        var teacher = Studio.Tests.RepoRoot.CopyToyTeacherWithoutReadme(Path.Combine(host.DataDirectory, "models", "flux-like"));
        var yaml = $$"""
            name: e2e agreement
            seed: 0
            teacher: { pipeline: {{teacher}}, dtype: float32 }
            student: { preset: toy-small }
            text: { max_length: 32 }
            loss: vision
            trajectory: { steps: 4 }
            optimizer: { lr: 1e-3, batch_size: 2 }
            stages:
              - name: s1
                resolution: 64
                updates: 4
                prompts: [ { set: 'toy:train:all:24' } ]
            checkpoints: { every: 2, keep: 0 }
            samples: { every: 0, resolution: 32 }
            validation: { every: 0 }
            device: cpu
            """;
        var created = await _http.PostAsJsonAsync($"{host.Url}/api/runs", new
        {
            name = "e2e agreement", configYaml = yaml, evaluateEachCheckpoint = true, evaluation = new { promptsPerCategory = 1, steps = 2 },
        });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var runId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt32();

        var (run, evaluations) = await WaitForRunAndEvaluationsAsync(runId, v => v.GetProperty("pipeline").GetString() == teacher);
        Assert.Equal("Completed", run.GetProperty("state").GetString());
        // The teacher once and both checkpoints, at the run's sample size and text length, with a difference and no toy score.
        var mine = evaluations.EnumerateArray().Where(v => v.GetProperty("pipeline").GetString() == teacher).ToList();
        Assert.Equal(3, mine.Count);
        Assert.All(mine, v => Assert.True(v.GetProperty("state").GetString() == "Completed", v.GetProperty("error").ToString()));
        Assert.All(mine, v => Assert.Equal((32, 32), (v.GetProperty("resolution").GetInt32(), v.GetProperty("maxSequenceLength").GetInt32())));
        Assert.All(mine, v => Assert.Equal(JsonValueKind.Null, v.GetProperty("semantics").ValueKind));
        var checkpoints = mine.Where(v => v.GetProperty("runId").ValueKind != JsonValueKind.Null).ToList();
        Assert.Equal([2L, 4L], checkpoints.Select(v => v.GetProperty("step").GetInt64()).Order());
        Assert.All(checkpoints, v => Assert.True(v.GetProperty("teacherDifference").GetDouble() > 0));

        // The run page shows each checkpoint's difference and charts both.
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        await page.GotoAsync($"{host.Url}/runs/{runId}");
        await page.Locator("[data-interactive=true]").WaitForAsync();
        await page.Locator(".mud-tab", new() { HasTextString = "Checkpoints" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=evaluates-each-checkpoint]")).ToContainTextAsync("agreement at 32 px, 32 tokens");
        await Assertions.Expect(page.Locator("[data-testid=checkpoint-agreement]")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("[data-testid=evaluations-over-training] [data-point]")).ToHaveCountAsync(2);
    }

    /// <summary>
    /// Polls the run and its evaluations (up to 300 s) until the run has ended and at least three evaluations that are
    /// <paramref name="ours"/> exist, none of them queued or running; answers the last reads.
    /// </summary>
    async Task<bool> WaitForLogLineAsync(int runId, Func<(string? Kind, string Message), bool> line)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        do
        {
            var log = (await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/runs/{runId}/events")).EnumerateArray()
                .Select(e => (Kind: e.GetProperty("kind").GetString(), Message: e.GetProperty("message").GetString()!));
            if (log.Any(line)) return true;
            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);
        return false;
    }

    async Task<(JsonElement Run, JsonElement Evaluations)> WaitForRunAndEvaluationsAsync(int runId, Func<JsonElement, bool> ours)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(300);
        JsonElement run, evaluations;
        bool Done() => run.GetProperty("state").GetString() is "Completed" or "Failed"
                       && evaluations.EnumerateArray().Count(ours) >= 3
                       && evaluations.EnumerateArray().All(v => v.GetProperty("state").GetString() is not ("Queued" or "Running"));
        do
        {
            await Task.Delay(500);
            run = await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/runs/{runId}");
            evaluations = await _http.GetFromJsonAsync<JsonElement>($"{host.Url}/api/evaluations?runs={runId}");
        }
        while (DateTime.UtcNow < deadline && !Done());
        return (run, evaluations);
    }
}
