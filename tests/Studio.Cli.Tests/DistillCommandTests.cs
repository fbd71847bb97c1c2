using Studio.Ml.Distillation;
using Studio.Ml.Tests;
using Studio.Ml.Tests.Diffusion;

namespace Studio.Cli.Tests;

[Collection("console")]
public class DistillCommandTests
{
    static string Config(string work, string teacher, int updates) => $$"""
        name: tiny
        seed: 3
        teacher: { pipeline: {{teacher}} }
        student: { preset: toy-small }
        text: { max_length: 8 }
        trajectory: { steps: 2 }
        optimizer: { lr: 1.0e-3, batch_size: 1 }
        stages:
          - { name: s, resolution: 16, updates: {{updates}}, prompts: [ { set: prompts.txt } ] }
        checkpoints: { every: 1000, keep: 0 }
        samples: { every: 0 }
        validation: { every: 0 }
        cache: { directory: cache }
        """;

    [Fact]
    public void ARunFolderThatHoldsCheckpointsContinuesFromTheNewestOne()
    {
        using var tiny = new TinyFluxPipelineFolder();
        var work = TestPaths.NewTempDirectory("distill-command");
        try
        {
            File.WriteAllLines(Path.Combine(work, "prompts.txt"), ["a blue square", "two green stars"]);
            var config = Path.Combine(work, "run.yaml");
            var run = Path.Combine(work, "run");

            File.WriteAllText(config, Config(work, tiny.Folder, updates: 2));
            var (code, output, error) = Cli.Run("distill", "--config", config, "--out", run);
            Assert.True(code == 0, error);
            Assert.Contains("finished: 2 updates", output);
            Assert.DoesNotContain("[Resumed]", output);
            Assert.Contains(", random init)", output);

            // Longer now: the same command continues from the step-2 checkpoint instead of starting over.
            File.WriteAllText(config, Config(work, tiny.Folder, updates: 3));
            (code, output, error) = Cli.Run("distill", "--config", config, "--out", run);
            Assert.True(code == 0, error);
            Assert.Contains("[Resumed] resumed at step 2", output);
            // The student is built, then filled from the checkpoint: the log does not call that a random init.
            Assert.Contains("layers; its weights come from the checkpoint)", output);
            Assert.DoesNotContain("random init", output);
            Assert.Contains("finished: 3 updates", output);
            Assert.EndsWith(TrainingCheckpoint.DirectoryName(3), TrainingCheckpoint.LatestGood(Path.Combine(run, "checkpoints")));
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    /// <summary>Without --out a run goes to DATA/runs/NAME: a name that would climb out of it is refused before anything runs.</summary>
    [Theory]
    [InlineData("../../escaped-run")]
    [InlineData("..")]
    [InlineData("a/b")]
    public void ANameThatIsNoFolderNameIsRefusedWithoutOut(string name)
    {
        var work = TestPaths.NewTempDirectory("distill-name");
        try
        {
            var config = Path.Combine(work, "run.yaml");
            File.WriteAllText(config, Config(work, "toy", updates: 1).Replace("name: tiny", $"name: '{name}'"));
            var before = Directory.GetFileSystemEntries(work, "*", SearchOption.AllDirectories).Order().ToList();
            var (code, _, error) = Cli.Run("distill", "--config", config);
            Assert.Equal(1, code);
            Assert.Equal($"studio distill: name: '{name}' is no folder name, and without --out the run goes to DATA/runs/NAME; give --out or a name without '/', '\\' or '..'",
                error.Trim());
            Assert.Equal(before, Directory.GetFileSystemEntries(work, "*", SearchOption.AllDirectories).Order());
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    [Fact]
    public void ARunStoppedEarlySaysWhyInItsLastLine()
    {
        using var tiny = new TinyFluxPipelineFolder();
        var work = TestPaths.NewTempDirectory("distill-patience");
        try
        {
            File.WriteAllLines(Path.Combine(work, "prompts.txt"), ["a blue square", "two green stars"]);
            var config = Path.Combine(work, "run.yaml");
            File.WriteAllText(config, Config(work, tiny.Folder, updates: 20));
            // A learning rate far too high wrecks the student at once, so its held-out loss stops improving.
            var (code, output, error) = Cli.Run("distill", "--config", config, "--out", Path.Combine(work, "run"), "--set", "optimizer.lr=1",
                "--set", "validation={every: 1, prompts: [{set: prompts.txt}], prompts_per_category: 1, noises: 1, patience: 1}");
            Assert.True(code == 0, error);
            var last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
            Assert.Matches(@"^finished: (\d+) updates \(stopped early at step \1: the held-out vision loss .* \(validation\.patience: 1\)\); checkpoints in ", last);
            Assert.DoesNotContain("finished: 20 updates", last);
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    [Fact]
    public void SetOverridesFieldsOfTheYamlAndABadOverrideIsNamedWithNothingTrained()
    {
        using var tiny = new TinyFluxPipelineFolder();
        var work = TestPaths.NewTempDirectory("distill-set");
        try
        {
            File.WriteAllLines(Path.Combine(work, "prompts.txt"), ["a blue square", "two green stars"]);
            var config = Path.Combine(work, "run.yaml");
            File.WriteAllText(config, Config(work, tiny.Folder, updates: 5));

            // The file says 5 updates; --set makes it 2 (and may rename the run, unlike a sweep's fields).
            var (code, output, error) = Cli.Run("distill", "--config", config, "--out", Path.Combine(work, "run"), "--set", "stages[0].updates=2",
                "--set", "name=tiny-short", "--set", "trajectory.guidance=[3.5]");
            Assert.True(code == 0, error);
            Assert.Contains("finished: 2 updates", output);

            var run = Path.Combine(work, "bad-run");
            foreach (var (args, expected) in new (string[], string)[]
            {
                (["--set", "optimizer.lr=fast"], "'fast' is not a number"),
                (["--set", "stages[3].updates=1"], "--set 'stages[3].updates=1': 'stages[3]' is not in the configuration (it has 1 items)"),
                (["--set", "lr"], "--set 'lr': expected FIELD=VALUE"),
                (["--set", "Optimizer.LR=1"], "--set 'Optimizer.LR=1': 'Optimizer.LR' is not a YAML path"),
                (["--set", "optimizer.batch_size=0"], "optimizer.batch_size: must be at least 1"),
                (["--resume", Path.Combine(work, "no-such-checkpoint")], "no-such-checkpoint"),
            })
            {
                (code, _, error) = Cli.Run(["distill", "--config", config, "--out", run, .. args]);
                Assert.Equal(1, code);
                Assert.StartsWith("studio distill: ", error);
                Assert.Contains(expected, error);
                Assert.False(Directory.Exists(run), string.Join(" ", args)); // a refused run leaves no folder
            }
        }
        finally { Directory.Delete(work, recursive: true); }
    }
}
