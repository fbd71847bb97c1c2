using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Tests.Diffusion;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Distillation;

/// <summary>
/// A run's periodic samples, per family, against the family's own pipeline loaded from disk: the teacher's row is what
/// the teacher pipeline draws, the last student row what the pipeline with the final checkpoint's exported student draws,
/// each prompt and seed as a one-prompt call draws it (what Generate asks for), although the run draws them in a batch.
/// </summary>
[Collection("global torch generator")]
public class SampleRendererTests
{
    static readonly string[] SamplePrompts = ["a red circle", "a sign that says cat"];
    static readonly int[] Seeds = [0, 5];
    const int Steps = 2, Resolution = 16;

    [Fact]
    public void SamplesShowTheStudentEveryNUpdatesAndTheTeacherOnceAsThePipelineDrawsThem()
    {
        using var tiny = new TinyFluxPipelineFolder();
        const double guidance = 3.5;
        var (samples, exported) = RunWithSamples(tiny.Folder, guidance);
        AssertRows(() => FluxPipeline.Load(tiny.Folder), samples.Take(4),
            (pipeline, prompt, seed) => pipeline.Generate(new FluxRequest([prompt], seed, Steps, guidance, Resolution, Resolution, pipeline.MaxSequenceLength)));
        AssertRows(() => FluxPipeline.Load(tiny.Folder, textEncoder2: exported), samples.Skip(8),
            (pipeline, prompt, seed) => pipeline.Generate(new FluxRequest([prompt], seed, Steps, guidance, Resolution, Resolution, pipeline.MaxSequenceLength)));
    }

    /// <summary>SD3: the run's sample guidance is the pipeline's classifier-free guidance against the empty negative prompt.</summary>
    [Fact]
    public void Sd3SamplesAreWhatItsPipelineDrawsWithClassifierFreeGuidance()
    {
        using var tiny = new TinySd3PipelineFolder();
        const double guidance = 4.0;
        var (samples, exported) = RunWithSamples(tiny.Folder, guidance);
        AssertRows(() => Sd3Pipeline.Load(tiny.Folder), samples.Take(4),
            (pipeline, prompt, seed) => pipeline.Generate(new Sd3Request([prompt], seed, Steps, guidance, Resolution, Resolution)));
        AssertRows(() => Sd3Pipeline.Load(tiny.Folder, textEncoder3: exported), samples.Skip(8),
            (pipeline, prompt, seed) => pipeline.Generate(new Sd3Request([prompt], seed, Steps, guidance, Resolution, Resolution)));
    }

    /// <summary>
    /// Runs 4 updates with samples every 2 and checks the events: the teacher once (step 0), the student at steps 2 and
    /// 4; each time every prompt with every seed, prompt-major. Returns them and the final checkpoint's exported student.
    /// </summary>
    static (List<TrainingEvent> Samples, string ExportedStudent) RunWithSamples(string teacher, double guidance)
    {
        var work = TestPaths.NewTempDirectory("samples-run");
        File.WriteAllLines(Path.Combine(work, "prompts.txt"), ["a blue square", "two green stars", "a yellow triangle"]);
        var config = new RunConfig
        {
            Name = "samples", Seed = 3, BaseDirectory = work,
            Teacher = new TeacherConfig { Pipeline = teacher },
            Student = new StudentConfig { Preset = "toy-small" },
            Text = new TextConfig { MaxLength = 8 },
            Trajectory = new TrajectoryConfig { Steps = 2 },
            Optimizer = new OptimizerConfig { Lr = 1e-3, BatchSize = 1 },
            Stages = [new StageConfig { Prompts = [new PromptSource { Set = "prompts.txt" }], Resolution = Resolution, Updates = 4 }],
            Checkpoints = new CheckpointConfig { Every = 1000, Keep = 0 },
            Samples = new SampleConfig { Every = 2, Prompts = [.. SamplePrompts], Seeds = [.. Seeds], Steps = Steps, Guidance = guidance, Resolution = Resolution },
            Validation = new ValidationConfig { Every = 0 },
        };
        Assert.Empty(DistillationSetup.Validate(config));
        var reporter = new RecordingReporter();
        var runDirectory = Path.Combine(work, "run");
        using (var setup = DistillationSetup.Prepare(config, Path.Combine(work, "cache"), reporter, CancellationToken.None))
            new Distiller(config, setup.Context, runDirectory, reporter).Run(CancellationToken.None);

        var samples = reporter.Events.Where(e => e.Kind == TrainingEventKind.SampleReady).ToList();
        Assert.Equal([0L, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4], samples.Select(e => e.Step));
        Assert.Equal(["true", "true", "true", "true", "false", "false", "false", "false", "false", "false", "false", "false"],
            samples.Select(e => e.Data![TrainingEventData.Teacher]));
        Assert.Equal(["0", "0", "1", "1"], samples.Take(4).Select(e => e.Data![TrainingEventData.PromptIndex]));
        Assert.Equal(["0", "5", "0", "5"], samples.Take(4).Select(e => e.Data![TrainingEventData.Seed]));
        Assert.Equal(SamplePrompts[1], samples[3].Data![TrainingEventData.Prompt]);
        Assert.All(samples, e => Assert.True(File.Exists(e.Data![TrainingEventData.Path]), e.Data[TrainingEventData.Path]));
        Assert.Empty(Directory.GetFiles(Path.Combine(runDirectory, "samples"), "*.tmp", SearchOption.AllDirectories));

        var exported = Path.Combine(work, "final-student");
        CheckpointExport.Export(TrainingCheckpoint.LatestGood(Path.Combine(runDirectory, "checkpoints"))!, "distillt5", exported, ScalarType.Float32);
        return (samples, exported);
    }

    /// <summary>Each prompt and seed drawn alone by the pipeline equals the row's PNG file byte for byte.</summary>
    static void AssertRows<TPipeline>(Func<TPipeline> load, IEnumerable<TrainingEvent> row, Func<TPipeline, string, int, GeneratedImages> generate)
        where TPipeline : IDisposable
    {
        using var pipeline = load();
        var events = row.ToList();
        foreach (var (seed, s) in Seeds.Select((seed, s) => (seed, s)))
            for (int p = 0; p < SamplePrompts.Length; p++)
            {
                using var image = generate(pipeline, SamplePrompts[p], seed);
                Assert.Equal(image.Png(0), File.ReadAllBytes(events[p * Seeds.Length + s].Data![TrainingEventData.Path]));
            }
    }
}
