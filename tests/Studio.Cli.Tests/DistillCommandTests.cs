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

            // Longer now: the same command continues from the step-2 checkpoint instead of starting over.
            File.WriteAllText(config, Config(work, tiny.Folder, updates: 3));
            (code, output, error) = Cli.Run("distill", "--config", config, "--out", run);
            Assert.True(code == 0, error);
            Assert.Contains("[Resumed] resumed at step 2", output);
            Assert.Contains("finished: 3 updates", output);
            Assert.EndsWith(TrainingCheckpoint.DirectoryName(3), TrainingCheckpoint.LatestGood(Path.Combine(run, "checkpoints")));
        }
        finally { Directory.Delete(work, recursive: true); }
    }
}
