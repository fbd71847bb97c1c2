using Bunit;
using MudBlazor.Services;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Ml.Distillation;
using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

/// <summary>Compare's settings table: the fields in which the selected runs differ, and what each run reached.</summary>
public class SettingsTableTests
{
    static Run ToyRun(int id, Action<RunConfig> edit, double? loss)
    {
        var config = RunPresets.Find("toy").Create();
        config.Name = $"run {id}";
        edit(config);
        return new Run { Id = id, Name = $"run {id}", ConfigYaml = config.ToYaml(), State = RunState.Completed, Step = 40, TotalSteps = 40, LastLoss = loss };
    }

    static ValidationPoint Point(long step, string category, double loss) => new() { Step = step, Category = category, VisionLoss = loss };

    [Fact]
    public async Task OnlyDifferingFieldsAreColumnsAndEachRunShowsItsLatestAndBestHeldOutLoss()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var runs = new[]
        {
            ToyRun(1, c => c.Optimizer.Lr = 1e-4, 0.25),
            ToyRun(2, c => c.Optimizer.Lr = 3e-4, 0.125),
            ToyRun(3, c => { c.Optimizer.Lr = 3e-4; c.Seed = 9; }, null),
        };
        var series = new RunSeries();
        // Mean over categories: step 20 -> (0.4 + 0.2) / 2 = 0.3, step 40 -> (0.5 + 0.3) / 2 = 0.4: the best is the earlier one.
        series.MergeValidation([Point(20, "text", 0.4), Point(20, "semantics", 0.2), Point(40, "text", 0.5), Point(40, "semantics", 0.3)]);
        var cut = ctx.Render<SettingsTable>(p => p
            .Add(t => t.Runs, runs)
            .Add(t => t.Series, new Dictionary<int, RunSeries> { [2] = series }));

        var headers = cut.FindAll("[data-testid=settings-table] th").Select(h => h.TextContent.Trim()).ToList();
        Assert.Equal(["Run", "seed", "optimizer.lr", "Steps", "Last loss"], headers.Take(5));
        Assert.Equal(["0", "0", "9"], cut.FindAll("[data-testid='setting-seed']").Select(c => c.TextContent));
        Assert.Equal([1e-4, 3e-4, 3e-4], cut.FindAll("[data-testid='setting-optimizer.lr']").Select(c => double.Parse(c.TextContent, System.Globalization.CultureInfo.InvariantCulture)));
        var validation = cut.FindAll("[data-testid=settings-validation]").Select(c => c.TextContent).ToList();
        Assert.Equal("–", validation[0]);
        Assert.Contains("(step 40)", validation[1]);
        Assert.StartsWith("0.4", validation[1]);
        Assert.Equal(["–", "0.3 (20)", "–"], cut.FindAll("[data-testid=settings-best]").Select(c => c.TextContent));
        Assert.Empty(cut.FindAll("[data-testid=settings-same]"));
        Assert.DoesNotContain("Semantics ↑", headers); // no run evaluated: no evaluation columns

        // A run's evaluation (the latest with the compared settings) adds its scores, with the checkpoint's step.
        var evaluated = ctx.Render<SettingsTable>(p => p
            .Add(t => t.Runs, runs)
            .Add(t => t.Series, new Dictionary<int, RunSeries>())
            .Add(t => t.Evaluations, new Dictionary<int, CheckpointEvaluation>
            {
                [2] = new() { Id = 5, RunId = 2, Step = 40, Semantics = 0.5, Text = 0.25, FrechetAll = 0.125, TeacherDifference = 1.5, TeacherSimilarity = 0.75, ClipScore = 28.5, Pipeline = "toy", Encoder = "checkpoint" },
            }));
        Assert.Contains("Semantics ↑", evaluated.FindAll("[data-testid=settings-table] th").Select(h => h.TextContent.Trim()));
        Assert.Equal(["–", "0.5 (40)", "–"], evaluated.FindAll("[data-testid=settings-semantics]").Select(c => c.TextContent));
        Assert.Equal(["–", "0.25 (40)", "–"], evaluated.FindAll("[data-testid=settings-text]").Select(c => c.TextContent));
        Assert.Equal(["–", "0.125 (40)", "–"], evaluated.FindAll("[data-testid=settings-fd]").Select(c => c.TextContent));
        Assert.Equal(["–", "1.5 (40)", "–"], evaluated.FindAll("[data-testid=settings-teacher-difference]").Select(c => c.TextContent));
        Assert.Equal(["–", "28.5 (40)", "–"], evaluated.FindAll("[data-testid=settings-clip-score]").Select(c => c.TextContent));
        // A score the evaluation does not have (no CLIP model on its worker) is a plain dash, with no step beside it.
        var noClip = ctx.Render<SettingsTable>(p => p
            .Add(t => t.Runs, runs)
            .Add(t => t.Series, new Dictionary<int, RunSeries>())
            .Add(t => t.Evaluations, new Dictionary<int, CheckpointEvaluation> { [2] = new() { Id = 6, RunId = 2, Step = 60, Semantics = 0.5, Pipeline = "toy", Encoder = "checkpoint" } }));
        Assert.Equal(["–", "–", "–"], noClip.FindAll("[data-testid=settings-clip-score]").Select(c => c.TextContent));
        Assert.Equal(["–", "0.5 (60)", "–"], noClip.FindAll("[data-testid=settings-semantics]").Select(c => c.TextContent));

        // The same table as CSV, for a spreadsheet or a paper's table.
        var href = evaluated.Find("[data-testid=settings-csv]").GetAttribute("href")!;
        var lines = Uri.UnescapeDataString(href[(href.IndexOf(',') + 1)..]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("run,name,state,seed,optimizer.lr,step,total_steps,last_loss,heldout_vision_loss,heldout_step,best_heldout_vision_loss,best_heldout_step,semantics,text,fd_all,teacher_difference,teacher_ssim,clip_score,evaluated_step", lines[0]);
        Assert.Equal(4, lines.Length);
        var second = lines[2].Split(',');
        Assert.Equal(["2", "run 2", "completed", "0"], second[..4]);
        Assert.Equal(3e-4, double.Parse(second[4], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(["40", "40", "0.125", "", "", "", "", "0.5", "0.25", "0.125", "1.5", "0.75", "28.5", "40"], second[5..]);
    }

    [Fact]
    public async Task EachSettingIsReadAgainstTheBestHeldOutLossOfTheRunsThatHaveOne()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        // Three rates with best losses 0.3, 0.2, 0.1 (the larger, the lower), two students.
        var runs = new[]
        {
            ToyRun(1, c => { c.Optimizer.Lr = 1e-4; c.Student.Preset = "toy-small"; }, null),
            ToyRun(2, c => { c.Optimizer.Lr = 3e-4; c.Student.Preset = "toy-base"; }, null),
            ToyRun(3, c => { c.Optimizer.Lr = 1e-3; c.Student.Preset = "toy-small"; }, null),
        };
        var series = new Dictionary<int, RunSeries>();
        foreach (var (id, loss) in new[] { (1, 0.3), (2, 0.2), (3, 0.1) })
        {
            series[id] = new RunSeries();
            series[id].MergeValidation([Point(20, "text", loss)]);
        }
        var cut = ctx.Render<SettingsTable>(p => p.Add(t => t.Runs, runs).Add(t => t.Series, series));

        var rows = cut.FindAll("[data-testid=settings-effects] tbody tr");
        var lr = rows.Single(r => r.GetAttribute("data-field") == "optimizer.lr");
        Assert.Equal("-1.00", lr.QuerySelector("[data-testid=effect-spearman]")!.TextContent);
        Assert.Equal("larger values, lower loss; the best run has the largest value tried (0.001): try larger", lr.QuerySelector("[data-testid=effect-reading]")!.TextContent);
        // toy-base's one run (0.2) against toy-small's two (mean 0.2 too: 0.3 and 0.1): the tie goes to the first name.
        var preset = rows.Single(r => r.GetAttribute("data-field") == "student.preset");
        Assert.Equal("–", preset.QuerySelector("[data-testid=effect-spearman]")!.TextContent);
        Assert.StartsWith("lowest mean loss with toy-base (0.2", preset.QuerySelector("[data-testid=effect-reading]")!.TextContent);
        // No run evaluated: the held-out loss is all there is to read against.
        Assert.Empty(cut.FindAll("[data-testid=settings-objective]"));
    }

    [Fact]
    public async Task EvaluatedRunsCanBeReadAgainstAnEvaluationScoreInstead()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        // Three rates: held-out losses 0.3, 0.2, 0.1 (the larger, the lower); semantic accuracy 0.2, 0.5, 0.3 (best inside).
        var runs = new[]
        {
            ToyRun(1, c => c.Optimizer.Lr = 1e-4, null), ToyRun(2, c => c.Optimizer.Lr = 3e-4, null), ToyRun(3, c => c.Optimizer.Lr = 1e-3, null),
        };
        var series = new Dictionary<int, RunSeries>();
        var evaluations = new Dictionary<int, CheckpointEvaluation>();
        foreach (var (id, loss, semantics, difference) in new[] { (1, 0.3, 0.2, 9.0), (2, 0.2, 0.5, 7.0), (3, 0.1, 0.3, 8.0) })
        {
            series[id] = new RunSeries();
            series[id].MergeValidation([Point(20, "text", loss)]);
            evaluations[id] = new() { Id = id, RunId = id, Step = 40, Semantics = semantics, TeacherDifference = difference, Pipeline = "toy", Encoder = "checkpoint" };
        }
        var cut = ctx.Render<SettingsTable>(p => p.Add(t => t.Runs, runs).Add(t => t.Series, series).Add(t => t.Evaluations, evaluations));
        string Reading() => cut.FindAll("[data-testid=settings-effects] tbody tr").Single(r => r.GetAttribute("data-field") == "optimizer.lr")
            .QuerySelector("[data-testid=effect-reading]")!.TextContent;
        Assert.Equal("larger values, lower loss; the best run has the largest value tried (0.001): try larger", Reading());

        var objective = cut.FindComponents<MudBlazor.MudSelect<string>>().Single(c => c.Instance.Label == "Settings against");
        await cut.InvokeAsync(() => objective.Instance.ValueChanged.InvokeAsync("semantics"));
        // Ranks 1, 2, 3 against 1, 3, 2: rho 0.5; the best (highest) run is inside the range.
        cut.WaitForAssertion(() => Assert.Equal("larger values, higher semantic accuracy; the best run is inside the range tried (0.0003)", Reading()), TimeSpan.FromSeconds(15));
        Assert.NotNull(cut.Find("[data-testid=settings-parallel] [data-axis=semantics]"));
        await cut.InvokeAsync(() => objective.Instance.ValueChanged.InvokeAsync("teacher-difference"));
        // |Δ| 9, 7, 8: rho -0.5, lowest inside.
        cut.WaitForAssertion(() => Assert.Equal("larger values, lower |Δ| to the teacher; the best run is inside the range tried (0.0003)", Reading()), TimeSpan.FromSeconds(15));
    }

    /// <summary>A sweep of 1,000 runs drew 1,000 rows (13 s to open Compare's settings): 100 a page, sorted over all of them.</summary>
    [Fact]
    public async Task ALargeSweepComesAHundredRowsAPageSortedOverAllOfThem()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var runs = Enumerable.Range(1, 250).Select(i => ToyRun(i, c => c.Seed = i, 1.0 / i)).ToArray();
        var cut = ctx.Render<SettingsTable>(p => p.Add(t => t.Runs, runs).Add(t => t.Series, new Dictionary<int, RunSeries>()));
        Assert.Equal(100, cut.FindAll("[data-testid=settings-table] tbody tr").Count);
        Assert.Equal("1-100 of 250 runs", System.Text.RegularExpressions.Regex.Match(cut.Find("[data-testid=settings-pager]").TextContent, @"\d+-\d+ of \d+ runs").Value);
        // Sorted by the last loss, the lowest of all 250 (run 250's) comes first on the first page.
        cut.FindAll("[data-testid=settings-table] th .mud-table-sort-label").Single(l => l.TextContent.Contains("Last loss")).Click();
        cut.WaitForAssertion(() => Assert.StartsWith("250 · run 250", cut.Find("[data-testid=settings-table] tbody tr td").TextContent.Trim()));
    }

    [Fact]
    public async Task RunsWithOneConfigurationSaySoAndNoRunsAskForASelection()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var same = ctx.Render<SettingsTable>(p => p
            .Add(t => t.Runs, [ToyRun(1, _ => { }, 0.2), ToyRun(2, _ => { }, 0.3)])
            .Add(t => t.Series, new Dictionary<int, RunSeries>()));
        Assert.Contains("the same configuration", same.Find("[data-testid=settings-same]").TextContent);
        Assert.Equal(["Run", "Steps"], same.FindAll("[data-testid=settings-table] th").Select(h => h.TextContent.Trim()).Take(2));

        var none = ctx.Render<SettingsTable>(p => p.Add(t => t.Runs, []).Add(t => t.Series, new Dictionary<int, RunSeries>()));
        Assert.Contains("Select runs", none.Find("[data-testid=settings-empty]").TextContent);
    }
}
