using Studio.Core.Hosting;
using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

/// <summary>The New run form's checks: presets, YAML round trips, and problems tied to the fields they name.</summary>
public class RunConfigValidationTests
{
    static readonly string Data = Directory.CreateTempSubdirectory("studio-form-").FullName;
    static readonly PathGuard Paths = new(new StudioOptions { DataDirectory = Data });

    static IReadOnlyList<FieldProblem> Check(RunConfig config) => RunConfigValidation.Check(config, Paths, Data);

    [Fact]
    public void EveryPresetSurvivesAYamlRoundTripUnchanged()
    {
        foreach (var preset in RunPresets.All)
        {
            var yaml = preset.Create().ToYaml();
            Assert.Equal(yaml, RunConfig.FromYaml(yaml, preset.Key).ToYaml());
        }
    }

    [Fact]
    public void TheToyPresetsAreValidOnAFreshCloneWithNoDownloads()
    {
        foreach (var preset in RunPresets.All.Where(p => p.Key.StartsWith("toy", StringComparison.Ordinal)))
            Assert.True(Check(preset.Create()).Count == 0, $"{preset.Key}: {string.Join("; ", Check(preset.Create()))}");
    }

    [Fact]
    public void KeepBestNeedsEveryCheckpointValidated()
    {
        var config = RunPresets.Find("toy").Create();
        config.Checkpoints.KeepBest = true;
        Assert.Empty(Check(config)); // the toy preset validates every 200 and checkpoints every 1,000

        config.Checkpoints.Every = 300;
        Assert.Equal([new FieldProblem("checkpoints.keep_best", "checkpoints.every (300) must be a multiple of validation.every (200), so each checkpoint is validated")], Check(config));
        config.Validation.Every = 0;
        Assert.Equal([new FieldProblem("checkpoints.keep_best", "needs validation (validation.every and validation.prompts) to tell the best checkpoint")], Check(config));
        Assert.Contains("keep_best: true", config.ToYaml());
    }

    [Fact]
    public void ThePaperPresetNamesItsMissingModelFoldersAndFilesAtTheirFields()
    {
        var problems = Check(RunPresets.Find("paper-t5-base").Create());
        Assert.Contains(problems, p => p.Field == "teacher.pipeline" && p.Message.Contains("/models/FLUX.1-dev") && p.Message.Contains("outside the allowed folders"));
        Assert.Contains(problems, p => p.Field == "student.init" && p.Message.Contains("/models/flan-t5-base"));
        Assert.Contains(problems, p => p.Field == "stages[0].prompts" && p.Message.Contains("all_train.txt"));
    }

    [Fact]
    public void APromptFileIsCheckedAgainAfterItChanges()
    {
        // Prompt-file checks are remembered per file version (a sweep checks one file for each of its runs), so an
        // edit, even one that keeps the length, must be seen.
        var file = Path.Combine(Data, "changing-prompts.txt");
        File.WriteAllText(file, "\n\n");
        var config = RunPresets.Find("toy").Create();
        config.Stages[0].Prompts = [new PromptSource { Set = file, Category = "semantics" }];
        Assert.Contains(Check(config), p => p.Field == "stages[0].prompts" && p.Message.Contains("no usable prompt"));
        Assert.Contains(Check(config), p => p.Field == "stages[0].prompts" && p.Message.Contains("no usable prompt"));

        File.WriteAllText(file, "a red cube\n");
        Assert.DoesNotContain(Check(config), p => p.Field == "stages[0].prompts");

        var written = File.GetLastWriteTimeUtc(file);
        File.WriteAllText(file, "\n\n\n\n\n\n\n\n\n\n\n"); // the same length, blank again
        File.SetLastWriteTimeUtc(file, written.AddSeconds(2));
        Assert.Contains(Check(config), p => p.Field == "stages[0].prompts" && p.Message.Contains("no usable prompt"));
    }

    [Fact]
    public void BadValuesAreReportedAtTheFieldTheyName()
    {
        var config = RunPresets.Find("toy").Create();
        config.Optimizer.Lr = 0;
        config.Stages[0].Updates = 0;
        config.Stages[0].Resolution = 70;
        config.Text.MaxLength = 77;
        config.Trajectory.UpdateSteps = [8];
        config.Validation.Prompts[0].Set = "toy:heldout:colours";
        config.Device = "gpu";
        var problems = Check(config);
        Assert.Contains(problems, p => p.Field == "optimizer.lr");
        Assert.Contains(problems, p => p.Field == "stages[0].updates");
        Assert.Contains(problems, p => p.Field == "stages[0].resolution" && p.Message.Contains("70"));
        Assert.Contains(problems, p => p.Field == "trajectory.update_steps" && p.Message.Contains("8-step"));
        Assert.Contains(problems, p => p.Field == "validation.prompts" && p.Message.Contains("colours"));
        Assert.Contains(problems, p => p.Field == "device");
        // The toy teacher's T5 was trained on 32 tokens (its tokenizer_2 says so).
        Assert.Contains(problems, p => p.Field == "text.max_length" && p.Message.Contains("32"));
        var lengthOnly = RunPresets.Find("toy").Create();
        lengthOnly.Text.MaxLength = 77;
        Assert.Equal(["text.max_length"], Check(lengthOnly).Select(p => p.Field));
    }

    [Theory]
    [InlineData("optimizer.lr: 0 must be positive", "optimizer.lr", "0 must be positive")]
    [InlineData("stages[2].prompts: file not found: /x", "stages[2].prompts", "file not found: /x")]
    [InlineData("student: vocabulary 32128 differs", "student", "vocabulary 32128 differs")]
    [InlineData("run 1: line 3, column 1: bad", "", "run 1: line 3, column 1: bad")]
    public void AProblemIsSplitIntoItsFieldAndMessage(string problem, string field, string message) =>
        Assert.Equal(new FieldProblem(field, message), RunConfigValidation.Parse(problem));
}
