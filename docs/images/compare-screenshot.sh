#!/usr/bin/env bash
# Makes docs/STUDIO.md's Compare screenshot (docs/images/compare.png): the scaling chart of the toy scaling study, trained
# and evaluated inside a real studio.
#
#   bash docs/images/compare-screenshot.sh [UPDATES] [OUT.png]
#
# UPDATES: each run's updates (default 300; the presets' 2,000 take about 3 minutes a run on an idle 2-core CPU).
# OUT: where the PNG goes (default docs/images/compare.png), written atomically.
#
# What it does, nothing of it outside a temporary folder (removed at the end) but OUT:
#  1. builds Studio.Web (Release) and starts it (screenshot-studio.sh) on a free loopback port with a fresh data
#     directory: single-user mode, so no login; the built-in toy teacher;
#  2. in a .NET file-based app written below (Playwright through Browser.LaunchAsync of tests/Studio.TestSupport, and
#     Studio.Ml for the presets): queues the run presets toy-study-small, toy-study-base, toy-study-large and
#     toy-study-naive with UPDATES updates (`POST /api/runs`, their YAML, on the `cpu` queue, where they train one after
#     another) and waits until all completed;
#  3. evaluates each run's last checkpoint and the toy teacher (`POST /api/evaluations`, the defaults: held-out split,
#     10 prompts per category, 1 seed, 20 steps, guidance 3.5) and waits until all five completed;
#  4. opens /compare?view=scaling, selects the four runs, waits for their points and the teacher's line, and
#     screenshots the whole page 1400 px wide;
#  5. stops the studio.
set -euo pipefail

updates=${1:-300}
if ! [[ $updates =~ ^[1-9][0-9]*$ ]]; then echo "usage: bash docs/images/compare-screenshot.sh [UPDATES] [OUT.png] (UPDATES: '$updates' is not a positive whole number)" >&2; exit 1; fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$(realpath -m "${2:-$repo/docs/images/compare.png}")
source "$repo/docs/images/screenshot-studio.sh"
screenshot_begin compare-screenshot

echo "building Studio.Web (Release)"
cd "$repo"
dotnet build src/Studio.Web -c Release -nologo -v:q -clp:ErrorsOnly
mkdir -p "$work/data"
start_studio "$work/data"

playwright_app "$work/shot/shot.cs" "$repo/src/Studio.Ml/Studio.Ml.csproj"
cat >> "$work/shot/shot.cs" <<'EOF'
// Arguments: URL OUT.png UPDATES
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Studio.Ml.Distillation;
using Studio.TestSupport;

var (url, output, updates) = (args[0], args[1], int.Parse(args[2]));
string[] presets = ["toy-study-small", "toy-study-base", "toy-study-large", "toy-study-naive"];
const int Width = 1400;
using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2) };

// The study's runs, as the New run page would queue the presets with a shorter stage.
var runs = new List<(int Id, string Name)>();
foreach (var key in presets)
{
    var config = RunPresets.Find(key).Create();
    config.Stages[0].Updates = updates;
    var run = await SendAsync(HttpMethod.Post, "/api/runs", new { name = config.Name, configYaml = config.ToYaml(), queue = "cpu" });
    runs.Add(((int)run["id"]!, config.Name));
    Console.WriteLine($"queued run {run["id"]} {config.Name}: {updates} updates");
}
foreach (var (id, name) in runs)
{
    var run = await WaitAsync($"/api/runs/{id}", "Completed", ["Failed", "Cancelled"], TimeSpan.FromHours(3));
    Console.WriteLine($"run {id} {name}: {run["state"]} at step {run["step"]}");
}

// The last checkpoint of each run and the teacher, with the evaluation defaults.
var evaluations = new List<JsonNode>();
foreach (var request in new object[] { new { latestOfRuns = runs.Select(r => r.Id) }, new { teacherPipeline = "toy" } })
    evaluations.AddRange((await SendAsync(HttpMethod.Post, "/api/evaluations", request)).AsArray().Select(e => e!));
foreach (var evaluation in evaluations)
{
    var done = await WaitAsync($"/api/evaluations/{evaluation["id"]}", "Completed", ["Failed"], TimeSpan.FromHours(1));
    Console.WriteLine($"evaluation {done["id"]} of {(done["runId"] is { } r ? $"run {r}" : "the teacher")}: semantics {done["semantics"]}, text {done["text"]}, FD(all) {done["frechetAll"]}");
}

Assertions.SetDefaultExpectTimeout(60_000);
var (playwright, browser) = await Browser.LaunchAsync();
using var _ = playwright;
await using var __ = browser;
var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = Width, Height = 1000 } });
await page.GotoAsync(url + "/compare?view=scaling");
await page.Locator("[data-interactive=true]").WaitForAsync();
// Compare's run search: type a run's #id, take its entry, see its chip.
var search = page.Locator("input[data-testid=compare-runs-search], [data-testid=compare-runs-search] input").First;
var chosen = 0;
foreach (var (id, name) in runs)
{
    // On a loaded machine a click can land while the list still renders and be lost (seen once with the third run):
    // the chip is awaited and the choice made again.
    chosen++;
    for (var attempt = 1; ; attempt++)
    {
        await search.ClickAsync();
        await search.FillAsync($"#{id}");
        await page.GetByRole(AriaRole.Option, new() { Name = $"{id} · {name} (completed)", Exact = true }).ClickAsync();
        try { await Assertions.Expect(page.Locator("[data-testid=compare-runs-chip]")).ToHaveCountAsync(chosen, new() { Timeout = 15_000 }); break; }
        catch (PlaywrightException) when (attempt < 3) { await page.Keyboard.PressAsync("Escape"); }
    }
}
await page.Keyboard.PressAsync("Escape");
await page.EvaluateAsync("() => document.activeElement?.blur()"); // no focus outline on the search in the picture
await Task.Delay(1000); // and its underline's transition over
await page.Mouse.MoveAsync(0, 0);
var chart = page.Locator("[data-testid=scaling-chart]");
await Assertions.Expect(chart.Locator("[data-point]")).ToHaveCountAsync(runs.Count);
await Assertions.Expect(chart.Locator("line[data-reference=teacher]")).ToHaveCountAsync(1);

var height = await Browser.ScreenshotWholePageAsync(page, Width, output);
Console.WriteLine($"{runs.Count} runs and the teacher on the scaling chart; {Width}x{height} screenshot");

// A request that must succeed; its JSON answer.
async Task<JsonNode> SendAsync(HttpMethod method, string path, object? body = null)
{
    using var response = await http.SendAsync(new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) });
    var text = await response.Content.ReadAsStringAsync();
    if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode} {text}");
    return JsonNode.Parse(text)!;
}

// Polls PATH until its state is DONE; a state in FAILED or the deadline ends the script, naming why.
async Task<JsonNode> WaitAsync(string path, string done, string[] failed, TimeSpan limit)
{
    var deadline = DateTime.UtcNow + limit;
    while (true)
    {
        var item = await SendAsync(HttpMethod.Get, path);
        var state = (string)item["state"]!;
        if (state == done) return item;
        if (failed.Contains(state)) throw new InvalidOperationException($"{path}: {state}: {item["error"]}");
        if (DateTime.UtcNow > deadline) throw new TimeoutException($"{path}: still {state} after {limit}");
        await Task.Delay(2000);
    }
}
EOF

run_playwright_app "$work/shot/shot.cs" "$url" "$work/compare.png" "$updates"
install_png "$work/compare.png" "$out"
