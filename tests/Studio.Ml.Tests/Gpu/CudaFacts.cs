using System.Runtime.CompilerServices;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.T5;
using Studio.Ml.Tests.Diffusion;
using Studio.Ml.Tests.Distillation;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Gpu;

/// <summary>
/// A fact that needs CUDA: skipped (with the reason) in a process whose TorchSharp has none. tests/gpu/run.sh runs them.
/// With STUDIO_GPU_FACTS_ON_CPU=1 and no CUDA they run with the CPU in the GPU's place: a dry run of the facts themselves
/// (paths, fixtures, the packed test assembly), which proves nothing about CUDA, so no GPU minute goes to a broken fact.
/// </summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
    {
        if (CudaFacts.GpuDevice is null) Skip = "no CUDA in this process (torch.cuda.is_available() is false)";
    }
}

/// <summary>A theory that needs CUDA, skipped like <see cref="CudaFactAttribute"/>.</summary>
public sealed class CudaTheoryAttribute : TheoryAttribute
{
    public CudaTheoryAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
    {
        if (CudaFacts.GpuDevice is null) Skip = "no CUDA in this process (torch.cuda.is_available() is false)";
    }
}

/// <summary>CUDA against the CPU on the same seeds: the device mistakes of issue #14 and numerical parity.</summary>
[Collection("global torch generator")]
[Trait("Category", "Gpu")]
public class CudaFacts(TinyFluxPipelineFolder tiny) : IClassFixture<TinyFluxPipelineFolder>
{
    /// <summary>"cuda" where CUDA is available; "cpu" in a dry run (STUDIO_GPU_FACTS_ON_CPU=1); otherwise null (the facts skip).</summary>
    public static string? GpuDevice { get; } = FindGpuDevice();

    static string? FindGpuDevice()
    {
        TorchRuntime.Initialise();
        if (TorchRuntime.CudaAvailable) return "cuda";
        return Environment.GetEnvironmentVariable("STUDIO_GPU_FACTS_ON_CPU") == "1" ? "cpu" : null;
    }

    static Device Gpu => torch.device(GpuDevice!);

    [CudaFact]
    public void AFloat32FluxPipelineOnCudaGivesTheCpuImageForTheSameSeed()
    {
        var request = new FluxRequest(["a red circle", "the word 'cat'"], Seed: 5, Steps: 3, Guidance: 3.5, Width: 32, Height: 32, MaxSequenceLength: 16);
        using var onCpu = FluxPipeline.Load(tiny.Folder);
        using var onCuda = FluxPipeline.Load(tiny.Folder, device: Gpu);
        using var expected = onCpu.Generate(request);
        using var actual = onCuda.Generate(request);
        Assert.Equal(Gpu.type, onCuda.Device.type);
        var difference = Studio.Ml.Fixtures.FixtureComparison.RelativeError(expected.Images, actual.Images);
        Assert.True(difference <= 1e-3, $"CUDA image differs from the CPU one by {difference:G3} (relative to the largest pixel)");
    }

    /// <summary>The toy teacher and the toy-small student, dropout off (CPU and CUDA draw dropout masks from different generators).</summary>
    static RunConfig ToyRun(string device, long updates, bool samplesAndValidation = false) => RunConfig.FromYaml($$"""
        name: gpu-fact
        seed: 0
        teacher: { pipeline: toy, dtype: float32 }
        student: { preset: toy-small, projection_dropout: 0.0 }
        text: { max_length: 32 }
        loss: vision
        trajectory: { steps: 8 }
        optimizer: { lr: 1.0e-3, batch_size: 8 }
        stages:
          - { name: toy, resolution: 64, updates: {{updates}}, prompts: [ { set: "toy:train::64" } ] }
        checkpoints: { every: 1000, keep: 1 }
        samples: { every: {{(samplesAndValidation ? 3 : 0)}}, prompts: ["a red circle and a blue square"], seeds: [0], steps: 4 }
        validation: { every: {{(samplesAndValidation ? 3 : 0)}}, prompts: [ { set: "toy:heldout::5" } ], prompts_per_category: 1, noises: 1 }
        device: {{device}}
        """);

    static List<UpdateMetrics> TrainWithoutDropout(string device, long updates)
    {
        var config = ToyRun(device, updates);
        var directory = TestPaths.NewTempDirectory("gpu-fact-" + device);
        var reporter = new RecordingReporter();
        using var setup = DistillationSetup.Prepare(config, Path.Combine(directory, "cache"), reporter, CancellationToken.None);
        var ctx = setup.Context;
        using var student = StudentEncoder.Create(StudentPresets.Resolve(config.Student) with { DropoutRate = 0.0 },
            ctx.Denoiser.SlotWidth, projectionDropout: 0.0, config.Seed);
        student.to(ctx.Device);
        var context = new DistillationContext
        {
            Denoiser = ctx.Denoiser, Student = student, Tokenize = ctx.Tokenize, Teacher = ctx.Teacher, Prompts = ctx.Prompts,
            Device = ctx.Device,
        };
        new Distiller(config, context, Path.Combine(directory, "run"), reporter).Run(CancellationToken.None);
        return reporter.Updates;
    }

    [CudaFact]
    public void TwentyFloat32ToyUpdatesOnCudaFollowTheCpuLossCurve()
    {
        var cpu = TrainWithoutDropout("cpu", 20);
        var cuda = TrainWithoutDropout(GpuDevice!, 20);
        Assert.Equal(20, cpu.Count);
        Assert.Equal(20, cuda.Count);
        for (int i = 0; i < 20; i++)
        {
            var relative = Math.Abs(cuda[i].Loss - cpu[i].Loss) / Math.Abs(cpu[i].Loss);
            Assert.True(relative <= 1e-3, $"update {i + 1}: CUDA loss {cuda[i].Loss:G6}, CPU {cpu[i].Loss:G6} (relative {relative:G3})");
        }
    }

    /// <summary>
    /// Dropout on (the student preset's 0.1): the device's one generator, seeded under DeviceDropout's lock at each
    /// student forward, gives two runs training at once in one process the losses each has alone. Within 1e-4 relative,
    /// not bit for bit: some CUDA backward kernels (the embedding's) add with atomics in any order; another run's masks
    /// would move the loss by percents.
    /// </summary>
    [CudaFact]
    public async Task TwoToyRunsAtOnceOnCudaWithDropoutEachFollowTheirRunAlone()
    {
        List<UpdateMetrics> Train(string name)
        {
            var config = ToyRun(GpuDevice!, 6);
            config.Student.ProjectionDropout = 0.1;
            var directory = TestPaths.NewTempDirectory("gpu-fact-dropout-" + name);
            var reporter = new RecordingReporter();
            using var setup = DistillationSetup.Prepare(config, Path.Combine(directory, "cache"), reporter, CancellationToken.None);
            new Distiller(config, setup.Context, Path.Combine(directory, "run"), reporter).Run(CancellationToken.None);
            return reporter.Updates;
        }
        var alone = Train("alone");
        var both = await Task.WhenAll(Task.Run(() => Train("a")), Task.Run(() => Train("b")));
        foreach (var run in both)
        {
            Assert.Equal(6, run.Count);
            for (int i = 0; i < 6; i++)
            {
                var relative = Math.Abs(run[i].Loss - alone[i].Loss) / Math.Abs(alone[i].Loss);
                Assert.True(relative <= 1e-4, $"update {i + 1}: {run[i].Loss:G8} at once, {alone[i].Loss:G8} alone (relative {relative:G3})");
            }
        }
    }

    /// <summary>The run of issue #14: samples (teacher row and student rows) and validation on CUDA.</summary>
    [CudaFact]
    public void AToyRunWithSamplesAndValidationCompletesOnCuda()
    {
        var config = ToyRun(GpuDevice!, 6, samplesAndValidation: true);
        var directory = TestPaths.NewTempDirectory("gpu-fact-samples");
        var reporter = new RecordingReporter();
        using var setup = DistillationSetup.Prepare(config, Path.Combine(directory, "cache"), reporter, CancellationToken.None);
        Assert.Equal(Gpu.type, setup.Context.Device.type);
        new Distiller(config, setup.Context, Path.Combine(directory, "run"), reporter).Run(CancellationToken.None);

        Assert.Equal(6, reporter.Updates.Count);
        Assert.Equal(2, reporter.Validations.Count);
        var samples = reporter.Events.Where(e => e.Kind == TrainingEventKind.SampleReady).ToList();
        Assert.Equal(3, samples.Count); // the teacher's row once, the student's at updates 3 and 6
        Assert.All(samples, s => Assert.True(new FileInfo(s.Data![TrainingEventData.Path]).Length > 0));
    }

    /// <summary>
    /// A LoRA merged into a pipeline on CUDA (its factors read on the CPU, the update computed on the GPU) draws the
    /// CPU's merged image within 1e-3, and the weights come back bit for bit (kept on the CPU meanwhile).
    /// </summary>
    [CudaFact]
    public void ALoraMergedOnCudaDrawsTheCpuImageAndTheWeightsComeBackExactly()
    {
        var lora = Path.Combine(TestPaths.NewTempDirectory("gpu-fact-lora"), "lora.safetensors");
        manual_seed(3);
        Studio.Ml.Tensors.SafeTensorsWriter.Save(lora, new Dictionary<string, Tensor>
        {
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = randn(4, 32) * 0.3,
            ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = randn(32, 4) * 0.3,
            ["transformer.single_transformer_blocks.0.proj_out.alpha"] = tensor(2.0f),
            ["transformer.single_transformer_blocks.0.proj_out.lora_A.weight"] = randn(4, 160) * 0.3,
            ["transformer.single_transformer_blocks.0.proj_out.lora_B.weight"] = randn(32, 4) * 0.3,
        });
        using var weights = Studio.Ml.Models.Common.LoraWeights.Load(lora);
        var request = new FluxRequest(["a red circle"], Seed: 5, Steps: 3, Guidance: 3.5, Width: 32, Height: 32, MaxSequenceLength: 16);
        using var onCpu = FluxPipeline.Load(tiny.Folder);
        using var onCuda = FluxPipeline.Load(tiny.Folder, device: Gpu);
        var before = onCuda.Transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().clone());
        GeneratedImages expected, actual;
        using (weights.MergeInto(onCpu.Transformer, 0.8)) expected = onCpu.Generate(request);
        using (weights.MergeInto(onCuda.Transformer, 0.8)) actual = onCuda.Generate(request);
        using (expected)
        using (actual)
        {
            var difference = Studio.Ml.Fixtures.FixtureComparison.RelativeError(expected.Images, actual.Images);
            Assert.True(difference <= 1e-3, $"the merged CUDA image differs from the CPU one by {difference:G3}");
        }
        foreach (var (name, parameter) in onCuda.Transformer.named_parameters())
            Assert.True(parameter.detach().cpu().eq(before[name]).all().item<bool>(), $"{name} did not come back on {GpuDevice}");
    }

    /// <summary>
    /// Every reference case of tests/fixtures/models computed on CUDA in float32 (`studio fixture --device cuda`'s
    /// path): each output within 1e-3 of its own scale (max|out - ref| / max|ref|), the GPU tolerance of the trainer's
    /// case. The models, the scheduler's Euler steps, the latent packing and the trainer's one update.
    /// </summary>
    [CudaTheory]
    [InlineData("t5_encoder_v10")]
    [InlineData("t5_encoder_v11")]
    [InlineData("clip_text")]
    [InlineData("clip_text_projection")]
    [InlineData("clip")]
    [InlineData("vae_decoder")]
    [InlineData("flux_transformer")]
    [InlineData("sd3_transformer")]
    [InlineData("flow_match_scheduler")]
    [InlineData("flux_packing")]
    [InlineData("distill_update")]
    public void EveryReferenceCaseMatchesOnCuda(string fixture)
    {
        var errors = FixtureAssert.RelativeErrors(TestPaths.Fixture(fixture), Gpu);
        Assert.NotEmpty(errors);
        foreach (var (name, error) in errors.OrderBy(e => e.Key, StringComparer.Ordinal))
            Assert.True(error <= 1e-3, $"{fixture}/{name}: max|diff| / max|ref| = {error:E2} on {GpuDevice}");
    }
}
