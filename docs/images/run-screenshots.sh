#!/usr/bin/env bash
# Makes the New run and run detail screenshots of README and docs/STUDIO.md (docs/images/new-run.png, docs/images/run-detail.png) from a
# real studio: the form filled in as a user would, then the run it queued, trained to the end.
#
#   bash docs/images/run-screenshots.sh [UPDATES] [OUT_DIR]
#
# UPDATES: the run's updates (default 400). OUT_DIR: where new-run.png and run-detail.png go (default docs/images),
# each written atomically.
#
# What it does, nothing of it outside a temporary folder (removed at the end) but the two PNGs:
#  1. builds Studio.Web (Release) and starts it (screenshot-studio.sh) on a free loopback port with a fresh data
#     directory: single-user mode, so no login; the built-in toy teacher; its in-process worker trains the run;
#  2. drives Debian's chromium through Playwright (a .NET file-based app written below): on /runs/new picks the
#     preset "Toy: CPU in 15 minutes", names the run, sets UPDATES updates, batch 4, 4-step trajectories, a checkpoint
#     and samples every UPDATES/2 updates and validation every UPDATES/8, presses Validate, and screenshots the top of
#     the form (1400x1200);
#  3. queues the run, waits on its page (never reloaded: the points arrive live) until it has completed, closes the
#     "completed" notification and screenshots the whole Training tab 1400 px wide;
#  4. stops the studio.
set -euo pipefail

updates=${1:-400}
if ! [[ $updates =~ ^[1-9][0-9]*$ ]] || (( updates < 8 )); then
  echo "usage: bash docs/images/run-screenshots.sh [UPDATES] [OUT_DIR] (UPDATES: '$updates' is not a whole number of at least 8)" >&2; exit 1
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out_dir=$(realpath -m "${2:-$repo/docs/images}")
source "$repo/docs/images/screenshot-studio.sh"
screenshot_begin run-screenshots

echo "building Studio.Web (Release)"
cd "$repo"
dotnet build src/Studio.Web -c Release -nologo -v:q -clp:ErrorsOnly
mkdir -p "$work/data"
start_studio "$work/data"

playwright_app "$work/shot/shot.cs"
cat >> "$work/shot/shot.cs" <<'EOF'
// Arguments: URL NEW_RUN.png RUN_DETAIL.png UPDATES
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Studio.TestSupport;

var (url, newRunPng, runDetailPng, updates) = (args[0], args[1], args[2], int.Parse(args[3]));
const int Width = 1400;

Assertions.SetDefaultExpectTimeout(60_000);
var (playwright, browser) = await Browser.LaunchAsync();
using var _ = playwright;
await using var __ = browser;
var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = Width, Height = 1200 } });

await page.GotoAsync(url + "/runs/new");
await page.Locator("[data-interactive=true]").WaitForAsync();
await page.GetByText("Toy: CPU in 15 minutes").ClickAsync();
await Browser.SetAsync(page, "run-name", $"toy-base, {updates} updates");
await Browser.SetAsync(page, "run-stage-0-updates", updates.ToString());
await Browser.SetAsync(page, "run-batch-size", "4");
await Browser.SetAsync(page, "run-trajectory-steps", "4");
await Browser.SetAsync(page, "run-checkpoint-every", (updates / 2).ToString());
await Browser.SetAsync(page, "run-samples-every", (updates / 2).ToString());
await Browser.SetAsync(page, "run-validation-every", (updates / 8).ToString());
await page.Locator("[data-testid=run-validate]").ClickAsync();
await Assertions.Expect(page.Locator("[data-testid=run-valid]")).ToBeVisibleAsync();
await page.Mouse.MoveAsync(0, 0);
await page.EvaluateAsync("() => window.scrollTo(0, 0)");
await page.ScreenshotAsync(new() { Path = newRunPng });
Console.WriteLine($"New run: {Width}x1200 screenshot");

var started = DateTime.UtcNow;
await page.Locator("[data-testid=run-submit]").ClickAsync();
await page.WaitForURLAsync(new Regex(@"/runs/\d+$"));
await page.Locator("[data-testid=chart-loss]").WaitForAsync();
var state = page.Locator("[data-testid=run-state]");
await Assertions.Expect(state).ToHaveTextAsync(new Regex("^(completed|failed|cancelled)$"), new() { Timeout = 30 * 60_000 });
if (await state.TextContentAsync() != "completed")
    throw new InvalidOperationException($"the run did not complete: {await page.Locator("[data-testid=run-error]").TextContentAsync()}");
await Assertions.Expect(page.Locator("[data-testid=chart-loss] path[data-kind=raw]").First).ToHaveAttributeAsync("data-count", updates.ToString());
// The "Run N completed" notification would cover a chart: closed first.
foreach (var close in await page.Locator(".mud-snackbar button").AllAsync()) await close.ClickAsync();
await Assertions.Expect(page.Locator(".mud-snackbar")).ToHaveCountAsync(0);
await page.Mouse.MoveAsync(0, 0);
var height = await Browser.ScreenshotWholePageAsync(page, Width, runDetailPng);
Console.WriteLine($"run detail: {updates} updates in {(DateTime.UtcNow - started).TotalSeconds:0} s from queueing; {Width}x{height} screenshot");

EOF

run_playwright_app "$work/shot/shot.cs" "$url" "$work/new-run.png" "$work/run-detail.png" "$updates"
install_png "$work/new-run.png" "$out_dir/new-run.png"
install_png "$work/run-detail.png" "$out_dir/run-detail.png"
