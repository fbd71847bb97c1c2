using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.T5;
using Studio.Ml.Tests.Diffusion;
using Studio.Ml.Text;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Distillation;

/// <summary>The trainer on a tiny SD3-layout teacher: the T5 slot is `text_encoder_3`, CLIP-L/G are kept, guidance is classifier-free.</summary>
[Collection("global torch generator")]
public class Sd3DistillationTests
{
    static readonly string[] TrainPrompts = ["a red circle", "a blue square", "two green stars", "a sign that says cat", "three yellow triangles"];

    static RunConfig Config(string teacher, string work, long updates) => new()
    {
        Name = "sd3", Seed = 5, BaseDirectory = work,
        Teacher = new TeacherConfig { Pipeline = teacher },
        Student = new StudentConfig { Preset = "toy-small" },
        Text = new TextConfig { MaxLength = 8, ZeroPooled = false },
        Trajectory = new TrajectoryConfig { Steps = 4, Guidance = [4.0] },
        Optimizer = new OptimizerConfig { Lr = 1e-3, BatchSize = 2 },
        Stages = [new StageConfig { Prompts = [new PromptSource { Set = "prompts.txt" }], Resolution = 16, Updates = updates }],
        Checkpoints = new CheckpointConfig { Every = 1000, Keep = 0 },
        Samples = new SampleConfig { Every = 0 },
        Validation = new ValidationConfig { Every = 3, Prompts = [new PromptSource { Set = "prompts.txt" }], PromptsPerCategory = 2, Noises = 1 },
    };

    static DistillationContext With(DistillationContext context, StudentEncoder student) => new()
    {
        Denoiser = context.Denoiser, Student = student, Tokenize = context.Tokenize, Teacher = context.Teacher, Prompts = context.Prompts, Device = context.Device,
    };

    [Fact]
    public void TheT5SlotOfAnSd3TeacherDistilsResumesBitIdenticallyAndLoadsBackInTheSlot()
    {
        using var tiny = new TinySd3PipelineFolder();
        var work = TestPaths.NewTempDirectory("sd3-distill");
        File.WriteAllLines(Path.Combine(work, "prompts.txt"), TrainPrompts);
        var config = Config(tiny.Folder, work, updates: 10);
        Assert.Equal(ModelFamily.Sd3, TeacherFamily.Of(tiny.Folder));
        Assert.Empty(DistillationSetup.Validate(config));

        using var setup = DistillationSetup.Prepare(config, Path.Combine(work, "cache"), new RecordingReporter(), CancellationToken.None);
        var context = setup.Context;
        Assert.IsType<FrozenSd3>(context.Denoiser);
        Assert.Equal(TinySd3PipelineFolder.JointWidth, context.Denoiser.SlotWidth);
        StudentEncoder NewStudent(int seed) => StudentEncoder.Create(StudentPresets.Resolve(config.Student), context.Denoiser.SlotWidth,
            config.Student.ProjectionDropout, seed);

        // Uninterrupted: 10 updates (2.5 trajectories of 4 steps), validated at 3, 6, 9 and 10.
        using var straight = NewStudent(config.Seed);
        var straightReport = new RecordingReporter();
        new Distiller(config, With(context, straight), Path.Combine(work, "straight"), straightReport).Run(CancellationToken.None);
        Assert.Equal(10, straightReport.Updates.Count);
        Assert.All(straightReport.Updates, u => Assert.True(double.IsFinite(u.Loss) && u.Loss > 0 && u.GradientNorm > 0));
        Assert.Equal([3L, 6, 9, 10], straightReport.Validations.Select(v => v.Step));

        // Interrupted after update 6 (mid-trajectory), then resumed in a differently initialised student.
        var runDirectory = Path.Combine(work, "interrupted");
        using var cancel = new CancellationTokenSource();
        var firstHalf = new RecordingReporter { OnUpdate = m => { if (m.Step == 6) cancel.Cancel(); } };
        using (var interrupted = NewStudent(config.Seed))
            Assert.NotEqual(0, new Distiller(config, With(context, interrupted), runDirectory, firstHalf).Run(cancel.Token).TrajectoryStep);
        var checkpoint = TrainingCheckpoint.LatestGood(Path.Combine(runDirectory, "checkpoints"))!;
        using var resumed = NewStudent(seed: 99);
        var secondHalf = new RecordingReporter();
        new Distiller(config, With(context, resumed), runDirectory, secondHalf).Run(CancellationToken.None, checkpoint);
        Assert.Equal(Enumerable.Range(7, 4).Select(i => (long)i), secondHalf.Updates.Select(u => u.Step));
        Assert.Equal(straightReport.Updates.Skip(6).Select(u => u.Loss), secondHalf.Updates.Select(u => u.Loss));
        var expected = straight.state_dict();
        foreach (var (name, value) in resumed.state_dict())
            Assert.True(value.eq(expected[name]).all().item<bool>(), $"{name} differs after resume");

        // The exported student fills SD3's T5 slot and encodes there exactly as it did in training.
        var exported = Path.Combine(work, "exported");
        CheckpointExport.Export(TrainingCheckpoint.LatestGood(Path.Combine(runDirectory, "checkpoints"))!, "distillt5", exported, ScalarType.Float32);
        using var pipeline = Sd3Pipeline.Load(tiny.Folder, textEncoder3: exported);
        var (ids, _) = TextTokenizer.Load(Path.Combine(tiny.Folder, "tokenizer_3")).EncodeBatch(TrainPrompts, 8);
        resumed.eval();
        using (no_grad())
        using (var inSlot = pipeline.T5!.Encode(ids))
        using (var trained = resumed.forward(ids))
            Assert.True(inSlot.eq(trained).all().item<bool>(), "the exported student encodes differently in SD3's T5 slot");
    }

    [Fact]
    public void TheCachedTeacherConditioningGivesTheVelocityOfTheSd3PipelinesOwnConditioning()
    {
        using var tiny = new TinySd3PipelineFolder();
        var work = TestPaths.NewTempDirectory("sd3-conditioning");
        File.WriteAllLines(Path.Combine(work, "prompts.txt"), TrainPrompts);
        var config = Config(tiny.Folder, work, updates: 1);
        using var setup = DistillationSetup.Prepare(config, Path.Combine(work, "cache"), new RecordingReporter(), CancellationToken.None);
        var denoiser = setup.Context.Denoiser;
        var teacher = setup.Context.Teacher;
        using var pipeline = Sd3Pipeline.Load(tiny.Folder);
        string[] prompts = [TrainPrompts[1], TrainPrompts[3]];
        using var positive = pipeline.EncodePrompts(prompts, 8);
        using var negative = pipeline.EncodePrompts(["", ""], 8);

        using var _ = no_grad();
        using var generator = new Generator(3, CPU);
        using var latents = denoiser.Noise(2, 16, generator);
        using var sigma = full(2, 0.6f, device: CPU);
        using var guidance = full(2, 4.0f, device: CPU);
        using var cached = new TextConditioning(teacher.States(prompts), teacher.Kept(prompts), teacher.Pooled(prompts));
        using var conditional = denoiser.Velocity(latents, sigma, cached, guidance);
        using var guided = denoiser.Guided(conditional, latents, sigma, guidance);
        using var notGuided = denoiser.Guided(conditional, latents, sigma, full(2, 1.0f, device: CPU));

        // The pipeline's own conditioning, through its transformer at timestep sigma * 1000, and its guidance rule.
        using var timestep = sigma * 1000;
        using var expected = pipeline.Transformer.forward(latents, positive.PromptEmbeds, positive.PooledPromptEmbeds, timestep);
        using var unconditional = pipeline.Transformer.forward(latents, negative.PromptEmbeds, negative.PooledPromptEmbeds, timestep);
        using var expectedGuided = ClassifierFreeGuidance.Combine(unconditional, expected, 4.0);
        Assert.True(conditional.allclose(expected, rtol: 1e-4, atol: 1e-5), $"conditional velocity differs by {(conditional - expected).abs().max().item<float>():G3}");
        Assert.True(guided.allclose(expectedGuided, rtol: 1e-4, atol: 1e-5), $"guided velocity differs by {(guided - expectedGuided).abs().max().item<float>():G3}");
        Assert.True(notGuided.eq(conditional).all().item<bool>(), "a guidance scale of 1 is no guidance");
    }
}
