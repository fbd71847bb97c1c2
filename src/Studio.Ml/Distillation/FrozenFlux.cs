using Studio.Ml.Diffusion;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// FLUX as the trainer's frozen denoiser: latents packed in 2x2 patches (in_channels / 4 VAE channels), the
/// dynamically shifted schedule of the teacher's scheduler config, position ids of the square patch grid and of the
/// text, timestep = sigma (FluxPipeline's convention), embedded guidance for FLUX.1-dev (none for schnell), and the
/// guided velocity is the conditional one. Owns the transformer.
/// </summary>
public sealed class FrozenFlux(FluxTransformer transformer, FlowMatchSchedulerConfig scheduler, int vaeScaleFactor = 8) : IFrozenDenoiser
{
    readonly FlowMatchEulerScheduler _scheduler = new(scheduler);

    public FluxTransformer Transformer { get; } = transformer;
    public string Family => "FLUX";
    public nn.Module Module => Transformer;
    public int SlotWidth => Transformer.Config.JointAttentionDim;
    public int PooledWidth => Transformer.Config.PooledProjectionDim;
    public double ValidationGuidance => 3.5;

    public Tensor Noise(int batch, int resolution, Generator generator)
    {
        var size = resolution / vaeScaleFactor;
        using var noise = randn([batch, Transformer.Config.InChannels / 4, size, size], device: generator.device, generator: generator);
        return LatentPacking.Pack(noise);
    }

    public FlowMatchSchedule TrainingSchedule(int steps, int resolution)
    {
        var grid = resolution / vaeScaleFactor / 2;
        return _scheduler.DistillationTraining(steps, grid * grid);
    }

    public Tensor Velocity(Tensor latents, Tensor sigma, TextConditioning conditioning, Tensor guidance)
    {
        if (conditioning.Kept is not null) throw new ArgumentException("FLUX conditions on the T5 slot and the pooled vector only; kept states were given", nameof(conditioning));
        using var scope = NewDisposeScope();
        var grid = (long)Math.Round(Math.Sqrt(latents.shape[1]));
        if (grid * grid != latents.shape[1]) throw new ArgumentException($"{latents.shape[1]} latent tokens are not a square patch grid", nameof(latents));
        var imageIds = LatentPacking.ImageIds(grid, grid, device: latents.device);
        var textIds = LatentPacking.TextIds(conditioning.Slot.shape[1], device: latents.device);
        return Transformer.forward(latents, conditioning.Slot, conditioning.Pooled, sigma, imageIds, textIds,
            Transformer.Config.GuidanceEmbeds ? guidance : null).MoveToOuterDisposeScope();
    }

    public Tensor Guided(Tensor conditional, Tensor latents, Tensor sigma, Tensor guidance) => conditional;

    /// <summary>Samples as <see cref="FluxPipeline.Generate"/> draws them at the run's sample guidance (embedded), with the pipeline's T5 length.</summary>
    public ISampleRenderer SampleRenderer(string teacherFolder, StudentEncoder student) => new PipelineSampleRenderer<FluxPipeline>(
        teacherFolder, TeacherFamily.SlotEncoder(ModelFamily.Flux), Transformer, student,
        slot => FluxPipeline.Around(teacherFolder, Transformer, slot),
        (pipeline, batch, slot) => pipeline.Generate(new FluxRequest(batch.Prompts, batch.Seed, batch.Steps, batch.Guidance,
            batch.Resolution, batch.Resolution, pipeline.MaxSequenceLength, SeedEachPrompt: true), textEncoder2: slot));

    public void Dispose() => Transformer.Dispose();
}
