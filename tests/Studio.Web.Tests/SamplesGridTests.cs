using Bunit;
using MudBlazor.Services;
using Studio.Core.Data;
using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

public class SamplesGridTests
{
    static List<SampleEntry> Samples()
    {
        var samples = new List<SampleEntry>();
        long id = 1;
        foreach (var prompt in new[] { (0, "a red cube"), (1, "a sign that says HI") })
        {
            samples.Add(new SampleEntry { Id = id++, RunId = 7, Step = 0, PromptIndex = prompt.Item1, Prompt = prompt.Item2, Seed = 1, IsTeacher = true, PngPath = "t.png" });
            foreach (var step in new[] { 100L, 200L, 300L })
                samples.Add(new SampleEntry { Id = id++, RunId = 7, Step = step, PromptIndex = prompt.Item1, Prompt = prompt.Item2, Seed = 1, PngPath = $"{step}.png" });
        }
        return samples;
    }

    static BunitContext NewContext()
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        return ctx;
    }

    static List<string?> StudentSteps(IRenderedComponent<SamplesGrid> cut) =>
        cut.FindAll("img[data-testid=sample-image]").Select(i => i.GetAttribute("data-step")).Where(s => s != "0").ToList();

    [Fact]
    public async Task OneSliderMovesEveryPromptToTheSameStep()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<SamplesGrid>(p => p.Add(c => c.Samples, Samples()));
        // Starts at the newest step, one student image per prompt beside the teacher's.
        Assert.Equal(2, cut.FindAll("[data-testid=sample-prompt]").Count);
        Assert.Equal(["300", "300"], StudentSteps(cut));
        Assert.Equal(2, cut.FindAll("img[data-step='0']").Count);

        cut.Find("input[type=range]").Input("0");
        Assert.Equal(["100", "100"], StudentSteps(cut));
        Assert.Contains("step 100", cut.Find("[data-testid=samples-step]").TextContent);
        Assert.Equal("/api/runs/7/samples/2/image", cut.FindAll("img[data-step='100']")[0].GetAttribute("src"));

        cut.Find("input[type=range]").Input("1");
        Assert.Equal(["200", "200"], StudentSteps(cut));
    }

    [Fact]
    public async Task TheDifferenceSwitchShowsEachStudentImageAgainstTheTeachersAndLeavesTheTeachersAlone()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<SamplesGrid>(p => p.Add(c => c.Samples, Samples()));
        Assert.Equal("/api/runs/7/samples/4/image", cut.FindAll("img[data-step='300']")[0].GetAttribute("src"));

        cut.Find("[data-testid=samples-difference] input, input[data-testid=samples-difference]").Change(true);
        Assert.Equal(["/api/runs/7/samples/4/difference", "/api/runs/7/samples/8/difference"],
            cut.FindAll("img[data-step='300']").Select(i => i.GetAttribute("src")));
        Assert.Equal(["/api/runs/7/samples/1/image", "/api/runs/7/samples/5/image"], cut.FindAll("img[data-step='0']").Select(i => i.GetAttribute("src")));
    }

    [Fact]
    public async Task WithoutTeacherSamplesThereIsNoDifferenceSwitch()
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<SamplesGrid>(p => p.Add(c => c.Samples, Samples().Where(s => !s.IsTeacher).ToList()));
        Assert.Empty(cut.FindAll("[data-testid=samples-difference]"));
    }

    [Fact]
    public async Task NewSamplesDoNotMoveASliderTheUserMovedBack()
    {
        await using var ctx = NewContext();
        var samples = Samples();
        var cut = ctx.Render<SamplesGrid>(p => p.Add(c => c.Samples, samples));
        cut.Find("input[type=range]").Input("0");
        samples.Add(new SampleEntry { Id = 99, RunId = 7, Step = 400, PromptIndex = 0, Prompt = "a red cube", Seed = 1, PngPath = "400.png" });
        cut.Render(p => p.Add(c => c.Samples, samples.ToList()));
        Assert.Equal(["100", "100"], StudentSteps(cut));
    }

    [Theory]
    [InlineData("samples: { every: 100, prompts: [a red cube, a blue ball], seeds: [0, 1, 2] }",
        "No samples yet: the run draws its 2 prompt(s) x 3 seed(s) every 100 updates and at the end, with the teacher's beside them.")]
    [InlineData("samples: { every: 100 }",
        "This run draws no samples: its samples.prompts is empty, so samples.every (100) has nothing to draw. A new run from a copy can list them.")]
    [InlineData("name: x", // no samples section: the default every (1000) and no prompts
        "This run draws no samples: its samples.prompts is empty, so samples.every (1000) has nothing to draw. A new run from a copy can list them.")]
    [InlineData("samples: { every: 0, prompts: [a red cube] }", "This run draws no samples: its samples.every is 0.")]
    public async Task NoSamplesSaysWhetherAndWhenTheRunDrawsThem(string yaml, string text)
    {
        await using var ctx = NewContext();
        var cut = ctx.Render<SamplesGrid>(p => p.Add(c => c.Samples, []).Add(c => c.ConfigYaml, yaml));
        Assert.Equal(text, cut.Find("[data-testid=samples-none]").TextContent);
    }
}
