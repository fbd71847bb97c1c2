#!/usr/bin/env bash
# Makes the Generate screenshot of README and docs/STUDIO.md (docs/images/generate.png) from a real studio and a toy scaling study.
#
#   bash docs/images/generate-screenshot.sh STUDY [OUT.png]
#
# STUDY: a folder `studio toy study --out STUDY` wrote, with STUDY/runs/<key>/checkpoints/step-NNNNNNNN/ for the keys
# toy-study-small, toy-study-base, toy-study-large and toy-study-naive (a key without checkpoints is left out, with a
# warning; at least one is needed). OUT: where the PNG goes (default docs/images/generate.png), written atomically.
# Run it from the checkout that made the study: the study's checkpoints name their teacher's folder, and when that
# folder holds the same files as the studio's built-in toy teacher, the built-in one is used.
#
# What it does, nothing of it outside a temporary folder (removed at the end) but OUT:
#  1. builds Studio.Web and Studio.Cli (Release);
#  2. exports each run's newest checkpoint with `studio export` (DistillT5 layout) into a fresh data directory;
#  3. starts the studio (screenshot-studio.sh: `dotnet src/Studio.Web/bin/Release/net10.0/Studio.Web.dll`, as the
#     E2E tests do) on a free loopback port with that data directory: single-user mode, so no login;
#  4. drives Debian's chromium through Playwright (Browser.LaunchAsync of tests/Studio.TestSupport, in a .NET
#     file-based app written below): registers each export on the Models page as an exported student named toy-small,
#     toy-base, toy-large and toy-base naive (and the study's teacher folder as a teacher pipeline when it is not the
#     built-in one); on the Generate page requests the four held-out prompts below (one per line, so one generation
#     each) with the teacher's own encoder and every student, seed 0, the toy teacher's 20 steps at 64x64, guidance
#     3.5; waits until every generation has completed and its images loaded, and screenshots the whole page 1400 px wide
#     (the page shows each 64x64 image at 192 px, pixelated);
#  5. stops the studio.
#
# The prompts are from the toy world's held-out split (the first ones `studio toy render --split heldout --seed 0`
# draws), one per criterion: image quality, colour, spatial, text. The history lists the newest first, so they are
# requested in reverse to read top-down in this order. The students appear in the order of their names, after the
# teacher (the Generate page's order).
set -euo pipefail

study=${1:?usage: bash docs/images/generate-screenshot.sh STUDY [OUT.png]}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$(realpath -m "${2:-$repo/docs/images/generate.png}")
study=$(realpath "$study")
prompts=(
  "a simple icon of a cyan cross on a beige background"
  "a purple cross and a red square"
  "a cyan square above a purple cross on a beige background"
  "a sign that says 'SUGAR'"
)
declare -A names=([toy-study-small]="toy-small" [toy-study-base]="toy-base" [toy-study-large]="toy-large" [toy-study-naive]="toy-base naive")

source "$repo/docs/images/screenshot-studio.sh"
screenshot_begin generate-screenshot
data=$work/data
mkdir -p "$data/students"

echo "building Studio.Web and Studio.Cli (Release)"
cd "$repo"
for project in src/Studio.Web src/Studio.Cli; do dotnet build "$project" -c Release -nologo -v:q -clp:ErrorsOnly; done
studio=$repo/src/Studio.Cli/bin/Release/net10.0/studio
built_in_teacher=$repo/src/Studio.Web/bin/Release/net10.0/Assets/toy-teacher

# teacher_folder NAME: a run's teacher.pipeline as a folder (`toy` is the built-in toy teacher).
teacher_folder() { if [[ $1 == toy ]]; then echo "$built_in_teacher"; else echo "$1"; fi; }

# The newest checkpoint of each run, exported; every run must name the same teacher (or a folder with its files).
students=()
teacher=
for key in toy-study-small toy-study-base toy-study-large toy-study-naive; do
  checkpoint=$(find "$study/runs/$key/checkpoints" -mindepth 1 -maxdepth 1 -type d -name 'step-*' 2>/dev/null | sort | tail -n 1 || true)
  if [[ -z $checkpoint ]]; then echo "warning: $study/runs/$key has no checkpoint; left out" >&2; continue; fi
  run_teacher=$(jq -r .ConfigYaml "$checkpoint/state.json" | sed -n '/^teacher:/,/^[^ ]/s/^  pipeline: *//p' | head -n 1)
  if [[ -z $run_teacher ]]; then echo "error: $checkpoint/state.json names no teacher.pipeline" >&2; exit 1; fi
  # Another folder with the same files is the same teacher (a study can reuse a run trained from a copy of it).
  if [[ -n $teacher && $run_teacher != "$teacher" ]] && ! diff -rq "$(teacher_folder "$run_teacher")" "$(teacher_folder "$teacher")" > /dev/null 2>&1; then
    echo "error: $checkpoint was distilled from $run_teacher, the others from $teacher (folders with different files)" >&2; exit 1
  fi
  teacher=$run_teacher
  folder=$data/students/${key#toy-study-}
  echo "exporting $checkpoint as ${names[$key]}"
  "$studio" export "$checkpoint" --format distillt5 --out "$folder" > /dev/null
  students+=("${names[$key]}=$folder")
done
if [[ ${#students[@]} -eq 0 ]]; then echo "error: no checkpoints under $study/runs/toy-study-*/checkpoints" >&2; exit 1; fi

# The built-in toy teacher when the study's teacher holds the same files; otherwise its folder, registered.
allowed=(Studio__AllowedRoots__0="$data")
if [[ $teacher == toy ]] || diff -rq "$teacher" "$built_in_teacher" > /dev/null 2>&1; then
  echo "teacher: the built-in toy teacher"
  teacher=
else
  if [[ ! -f $teacher/model_index.json ]]; then echo "error: the study's teacher $teacher is not a pipeline folder" >&2; exit 1; fi
  echo "teacher: $teacher (registered as a teacher pipeline)"
  allowed+=(Studio__AllowedRoots__1="$teacher")
fi

start_studio "$data" "${allowed[@]}"

for ((i = ${#prompts[@]} - 1; i >= 0; i--)); do echo "${prompts[i]}"; done > "$work/prompts.txt"
playwright_app "$work/shot/shot.cs"
cat >> "$work/shot/shot.cs" <<'EOF'
// Arguments: URL OUT.png TEACHER_FOLDER_OR_EMPTY PROMPTS.txt NAME=FOLDER...
using Microsoft.Playwright;
using Studio.TestSupport;

var (url, output, teacher, promptsFile) = (args[0], args[1], args[2], args[3]);
var students = args[4..].Select(a => a.Split('=', 2)).Select(p => (Name: p[0], Folder: p[1])).ToList();
var prompts = File.ReadAllLines(promptsFile).Where(l => l.Trim().Length > 0).ToList();
const int Width = 1400;

Assertions.SetDefaultExpectTimeout(60_000);
var (playwright, browser) = await Browser.LaunchAsync();
using var _ = playwright;
await using var __ = browser;
var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = Width, Height = 1000 } });

foreach (var (name, folder) in students) await RegisterAsync(name, "exported student", folder);
const string TeacherName = "study teacher";
if (teacher != "") await RegisterAsync(TeacherName, "teacher pipeline", teacher);

await OpenAsync("/generate");
if (teacher != "")
{
    // A registered teacher folder defaults to 512x512 in 28 steps; the toy world is 64x64 in 20.
    await ChooseAsync("Teacher pipeline", TeacherName);
    await Browser.SetAsync(page.GetByLabel("Steps", new() { Exact = true }), "20");
    await Browser.SetAsync(page.GetByLabel("Width", new() { Exact = true }), "64");
    await Browser.SetAsync(page.GetByLabel("Height", new() { Exact = true }), "64");
}
await Browser.SetAsync(Browser.Field(page, "generate-prompt"), string.Join("\n", prompts));
// The encoders' search: type a student's name, take its entry, see its chip.
var search = page.Locator("input[data-testid=generate-checkpoints-search], [data-testid=generate-checkpoints-search] input").First;
var chosen = 0;
foreach (var (name, _) in students)
{
    await search.ClickAsync();
    await search.FillAsync(name);
    await page.GetByRole(AriaRole.Option, new() { Name = $"{name} (exported student)", Exact = true }).ClickAsync();
    await Assertions.Expect(page.Locator("[data-testid=generate-checkpoints-chip]")).ToHaveCountAsync(++chosen);
}
await page.Keyboard.PressAsync("Escape");
await page.Locator("[data-testid=generate-submit]").ClickAsync();
await page.Mouse.MoveAsync(0, 0);

var generations = page.Locator("[data-testid=generation]");
await Assertions.Expect(generations).ToHaveCountAsync(prompts.Count);
var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(30);
while (await page.Locator("[data-testid=generation][data-state=Completed]").CountAsync() < prompts.Count)
{
    if (await page.Locator("[data-testid=generation][data-state=Failed]").CountAsync() > 0)
        throw new InvalidOperationException("a generation failed: " + await page.Locator("[data-testid=generation][data-state=Failed]").First.InnerTextAsync());
    if (DateTime.UtcNow > deadline) throw new TimeoutException("the generations did not complete in 30 minutes");
    await Task.Delay(1000);
}
var images = page.Locator("[data-testid=generation-image] img");
await Assertions.Expect(images).ToHaveCountAsync(prompts.Count * (1 + students.Count));
await page.WaitForFunctionAsync("() => [...document.querySelectorAll('[data-testid=generation-image] img')].every(i => i.complete && i.naturalWidth > 0)");

var height = await Browser.ScreenshotWholePageAsync(page, Width, output);
Console.WriteLine($"{prompts.Count} generations x {1 + students.Count} encoders; {Width}x{height} screenshot");

async Task OpenAsync(string path)
{
    await page.GotoAsync(url + path);
    await page.Locator("[data-interactive=true]").WaitForAsync();
}

// The list closes once the server has taken the choice; on a loaded machine a click can land while the list still
// renders and be lost (seen once: a student registered as a teacher pipeline), so wait for the close and retry.
async Task ChooseAsync(string select, string option)
{
    for (var attempt = 1; ; attempt++)
    {
        await page.GetByRole(AriaRole.Combobox, new() { Name = select, Exact = true }).ClickAsync();
        var item = page.GetByRole(AriaRole.Option, new() { Name = option, Exact = true });
        await item.ClickAsync();
        try { await Assertions.Expect(item).ToBeHiddenAsync(new() { Timeout = 15_000 }); return; }
        catch (PlaywrightException) when (attempt < 3) { await page.Keyboard.PressAsync("Escape"); }
    }
}

async Task RegisterAsync(string name, string kind, string folder)
{
    await OpenAsync("/models");
    await Browser.SetAsync(Browser.Field(page, "model-folder"), folder);
    await ChooseAsync("Kind", kind);
    await Browser.SetAsync(page.GetByLabel("Name (optional)"), name);
    await page.Locator("[data-testid=model-register]").ClickAsync();
    var error = page.Locator("[data-testid=model-error]");
    var row = page.Locator("[data-testid=models-table] tr").Filter(new() { HasText = folder });
    await Assertions.Expect(error.Or(row)).ToBeVisibleAsync();
    if (await error.IsVisibleAsync()) throw new InvalidOperationException($"registering {folder}: {await error.InnerTextAsync()}");
    Console.WriteLine($"registered {name} ({kind}): {folder}");
}
EOF

run_playwright_app "$work/shot/shot.cs" "$url" "$work/generate.png" "$teacher" "$work/prompts.txt" "${students[@]}"
install_png "$work/generate.png" "$out"
