using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

public class RunSettingsTests
{
    static string Toy(Action<RunConfig>? edit = null) => ToyRun.Yaml(edit);

    [Fact]
    public void SettingsAreFlatYamlPathsWithListsInlineAndListItemsIndexed()
    {
        var settings = RunSettings.Of("seed: 7\ntrajectory: { guidance: [2, 3.5] }\nstages:\n  - { name: a, updates: 10, prompts: [{ set: 'toy:train' }] }\n  - { name: b, updates: 20 }\n");
        Assert.Equal("7", settings["seed"]);
        Assert.Equal("[2, 3.5]", settings["trajectory.guidance"]);
        Assert.Equal(["a", "b"], [settings["stages[0].name"], settings["stages[1].name"]]);
        Assert.Equal(20.0, RunSettings.Number(settings["stages[1].updates"]));
        Assert.Equal("toy:train", settings["stages[0].prompts[0].set"]);
        // Defaults are filled in: a field the YAML leaves out has the value every run without it trains with.
        Assert.Equal(new OptimizerConfig().Lr, RunSettings.Number(settings["optimizer.lr"]));
        Assert.Equal("vision", settings["loss"]);
    }

    [Fact]
    public void OnlyTheFieldsInWhichRunsDifferAreListedInConfigurationOrderNamesAside()
    {
        var runs = new[]
        {
            RunSettings.Of(Toy(c => { c.Name = "a"; c.Optimizer.Lr = 1e-4; c.Student.Preset = "toy-small"; })),
            RunSettings.Of(Toy(c => { c.Name = "b"; c.Optimizer.Lr = 3e-4; c.Student.Preset = "toy-small"; })),
            RunSettings.Of(Toy(c => { c.Name = "c"; c.Optimizer.Lr = 3e-4; c.Student.Preset = "toy-base"; c.Stages.Add(new StageConfig { Name = "more", Updates = 5 }); })),
        };
        var fields = RunSettings.Differing(runs);
        Assert.Equal("student.preset", fields[0]);
        Assert.Equal("optimizer.lr", fields[1]);
        Assert.Contains("stages[1].updates", fields);
        Assert.DoesNotContain("name", fields);
        Assert.DoesNotContain("seed", fields);
        Assert.Equal("–", RunSettings.Value(runs[0], "stages[1].updates")); // a field one run lacks

        // An explicit default and a left-out field are the same setting.
        Assert.Empty(RunSettings.Differing([RunSettings.Of("seed: 1\n"), RunSettings.Of("seed: 1\noptimizer: { lr: 0.0001 }\n")]));
    }

    [Fact]
    public void YamlThatIsNotARunConfigurationIsFlattenedAsWrittenAndBrokenYamlGivesNothing()
    {
        Assert.Equal("fast", RunSettings.Of("optimizer: { lr: fast }\n")["optimizer.lr"]);
        Assert.Empty(RunSettings.Of("optimizer: [\n"));
        Assert.Null(RunSettings.Number("fast"));
        Assert.Equal(0.0003, RunSettings.Number("3e-4"));
    }
}
