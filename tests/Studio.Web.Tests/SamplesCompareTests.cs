using Bunit;
using MudBlazor.Services;
using Studio.Core.Data;
using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

/// <summary>Compare's samples: each prompt's teacher image, then every selected run's student, at its latest step or a shared one.</summary>
public class SamplesCompareTests
{
    static long _id;

    static SampleEntry Sample(int run, long step, string prompt, bool teacher = false, long seed = 0) => new()
    {
        Id = ++_id, RunId = run, Step = step, Prompt = prompt, Seed = seed, IsTeacher = teacher, PngPath = $"/x/{run}-{step}.png",
        PromptIndex = prompt == "a red ball" ? 0 : 1,
    };

    [Fact]
    public async Task RowsArePromptsAndSeedsColumnsTheTeacherThenEachRunAtItsLatestOrASharedStep()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var runs = new[] { new Run { Id = 1, Name = "small", ConfigYaml = "" }, new Run { Id = 2, Name = "base", ConfigYaml = "" } };
        var samples = new Dictionary<int, IReadOnlyList<SampleEntry>>
        {
            [1] = [Sample(1, 0, "a red ball", teacher: true), Sample(1, 10, "a red ball"), Sample(1, 20, "a red ball"), Sample(1, 10, "two stars")],
            [2] = [Sample(2, 0, "a red ball", teacher: true), Sample(2, 10, "a red ball")],
        };
        var cut = ctx.Render<SamplesCompare>(p => p.Add(c => c.Runs, runs).Add(c => c.Samples, samples));

        Assert.Equal(["a red ball (seed 0)", "two stars (seed 0)"], cut.FindAll("[data-testid=samples-compare-prompt]").Select(p => p.TextContent.Trim()));
        Assert.Equal(["1 · small", "2 · base"], cut.FindAll("[data-testid=samples-compare-run]").Select(p => p.TextContent.Trim()));
        // Row 1: the teacher (one image, from the first run that drew it), run 1 at its latest step 20, run 2 at 10; row 2: only run 1.
        string Cell(AngleSharp.Dom.IElement i) => $"{i.GetAttribute("data-run")}@{i.GetAttribute("data-step")}";
        Assert.Equal(["1@0", "1@20", "2@10", "1@10"], cut.FindAll("[data-testid=samples-compare-image]").Select(Cell));
        Assert.EndsWith("/samples/" + samples[1][2].Id + "/image", cut.FindAll("[data-testid=samples-compare-image]")[1].GetAttribute("src"));
        // The figure is of what is shown: these runs in this order, each at its latest samples.
        Assert.Equal("/api/runs/samples-figure.png?runs=1,2", cut.Find("[data-testid=samples-compare-figure]").GetAttribute("href"));

        // The step both runs drew: 10.
        cut.Find("[data-testid=samples-compare-latest] input, input[data-testid=samples-compare-latest]").Change(false);
        cut.WaitForAssertion(() => Assert.Equal("step 10", cut.Find("[data-testid=samples-compare-step]").TextContent.Trim()));
        Assert.Equal(["1@0", "1@10", "2@10", "1@10"], cut.FindAll("[data-testid=samples-compare-image]").Select(Cell));
        Assert.Equal("/api/runs/samples-figure.png?runs=1,2&step=10", cut.Find("[data-testid=samples-compare-figure]").GetAttribute("href"));
    }

    [Fact]
    public async Task RunsWithoutSamplesSaySo()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var cut = ctx.Render<SamplesCompare>(p => p
            .Add(c => c.Runs, [new Run { Id = 3, Name = "no samples", ConfigYaml = "" }])
            .Add(c => c.Samples, new Dictionary<int, IReadOnlyList<SampleEntry>> { [3] = [] }));
        Assert.Contains("No samples yet", cut.Find("[data-testid=samples-compare-empty]").TextContent);
    }
}
