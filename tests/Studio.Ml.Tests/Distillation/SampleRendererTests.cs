using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Tests.Diffusion;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Distillation;

[Collection("global torch generator")]
public class SampleRendererTests
{
    static readonly string[] SamplePrompts = ["a red circle", "a sign that says cat"];
    static readonly int[] Seeds = [0, 5];

    [Fact]
    public void SamplesShowTheStudentEveryNUpdatesAndTheTeacherOnceAsThePipelineDrawsThem()
    {
        using var tiny = new TinyFluxPipelineFolder();
        var work = TestPaths.NewTempDirectory("samples-run");
        File.WriteAllLines(Path.Combine(work, "prompts.txt"), ["a blue square", "two green stars", "a yellow triangle"]);
        var config = new RunConfig
        {
            Name = "samples", Seed = 3, BaseDirectory = work,
            Teacher = new TeacherConfig { Pipeline = tiny.Folder },
            Student = new StudentConfig { Preset = "toy-small" },
            Text = new TextConfig { MaxLength = 8 },
            Trajectory = new TrajectoryConfig { Steps = 2 },
            Optimizer = new OptimizerConfig { Lr = 1e-3, BatchSize = 1 },
            Stages = [new StageConfig { Prompts = [new PromptSource { Set = "prompts.txt" }], Resolution = 16, Updates = 4 }],
            Checkpoints = new CheckpointConfig { Every = 1000, Keep = 0 },
            Samples = new SampleConfig { Every = 2, Prompts = [.. SamplePrompts], Seeds = [.. Seeds], Steps = 2, Guidance = 3.5, Resolution = 16 },
            Validation = new ValidationConfig { Every = 0 },
        };
        var reporter = new RecordingReporter();
        var runDirectory = Path.Combine(work, "run");
        using (var setup = DistillationSetup.Prepare(config, Path.Combine(work, "cache"), reporter, CancellationToken.None))
            new Distiller(config, setup.Context, runDirectory, reporter).Run(CancellationToken.None);

        // The teacher once (step 0), the student at steps 2 and 4; each time every prompt with every seed, prompt-major.
        var samples = reporter.Events.Where(e => e.Kind == TrainingEventKind.SampleReady).ToList();
        Assert.Equal([0L, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4], samples.Select(e => e.Step));
        Assert.Equal(["true", "true", "true", "true", "false", "false", "false", "false", "false", "false", "false", "false"],
            samples.Select(e => e.Data![TrainingEventData.Teacher]));
        Assert.Equal(["0", "0", "1", "1"], samples.Take(4).Select(e => e.Data![TrainingEventData.PromptIndex]));
        Assert.Equal(["0", "5", "0", "5"], samples.Take(4).Select(e => e.Data![TrainingEventData.Seed]));
        Assert.Equal(SamplePrompts[1], samples[3].Data![TrainingEventData.Prompt]);
        Assert.All(samples, e => Assert.True(File.Exists(e.Data![TrainingEventData.Path]), e.Data[TrainingEventData.Path]));
        Assert.Empty(Directory.GetFiles(Path.Combine(runDirectory, "samples"), "*.tmp", SearchOption.AllDirectories));

        // The teacher's row is what the teacher pipeline draws; the last student row is what the final checkpoint's
        // student draws in the same pipeline.
        var exported = Path.Combine(work, "final-student");
        CheckpointExport.Export(TrainingCheckpoint.LatestGood(Path.Combine(runDirectory, "checkpoints"))!, "distillt5", exported, ScalarType.Float32);
        AssertRows(Pipeline(tiny.Folder), samples.Take(4));
        AssertRows(Pipeline(tiny.Folder, exported), samples.Skip(8));
    }

    static Func<FluxPipeline> Pipeline(string folder, string? textEncoder2 = null) => () => FluxPipeline.Load(folder, textEncoder2: textEncoder2);

    static void AssertRows(Func<FluxPipeline> load, IEnumerable<TrainingEvent> row)
    {
        using var pipeline = load();
        var events = row.ToList();
        foreach (var (seed, s) in Seeds.Select((seed, s) => (seed, s)))
        {
            using var images = pipeline.Generate(new FluxRequest(SamplePrompts, seed, 2, 3.5, 16, 16, pipeline.MaxSequenceLength));
            for (int p = 0; p < SamplePrompts.Length; p++)
                Assert.Equal(images.Png(p), File.ReadAllBytes(events[p * Seeds.Length + s].Data![TrainingEventData.Path]));
        }
    }
}
