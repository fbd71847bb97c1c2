using Studio.Ml.Diffusion;
using Studio.Ml.Models.Sd3;
using Studio.Ml.Models.T5;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// Stable Diffusion 3 as the trainer's frozen denoiser: latents on the VAE's grid (in_channels), the statically shifted
/// schedule of the teacher's scheduler config, the text states joined as StableDiffusion3Pipeline joins them (the CLIP-L
/// and CLIP-G states padded with zeros to the T5 width, then the T5 slot's states along the sequence), timestep =
/// sigma * num_train_timesteps, and real classifier-free guidance: the guided velocity runs the transformer again on
/// <paramref name="negative"/> (the teacher's conditioning of the empty prompt, one row) and takes
/// negative + scale * (conditional - negative). Owns the transformer and the negative conditioning.
/// </summary>
public sealed class FrozenSd3(Sd3Transformer transformer, FlowMatchSchedulerConfig scheduler, TextConditioning negative, int vaeScaleFactor = 8)
    : IFrozenDenoiser
{
    readonly FlowMatchEulerScheduler _scheduler = new(scheduler);

    public Sd3Transformer Transformer { get; } = transformer;
    public string Family => "SD3";
    public nn.Module Module => Transformer;
    public int SlotWidth => Transformer.Config.JointAttentionDim;
    public int PooledWidth => Transformer.Config.PooledProjectionDim;
    public double ValidationGuidance => 7.0;

    public Tensor Noise(int batch, int resolution, Generator generator)
    {
        var size = resolution / vaeScaleFactor;
        return randn([batch, Transformer.Config.InChannels, size, size], device: generator.device, generator: generator);
    }

    public FlowMatchSchedule TrainingSchedule(int steps, int resolution)
    {
        var grid = resolution / vaeScaleFactor / Transformer.Config.PatchSize;
        return _scheduler.DistillationTraining(steps, grid * grid);
    }

    public Tensor Velocity(Tensor latents, Tensor sigma, TextConditioning conditioning, Tensor guidance)
    {
        var kept = conditioning.Kept ?? throw new ArgumentException("SD3 needs the CLIP-L and CLIP-G states beside the T5 slot's", nameof(conditioning));
        using var scope = NewDisposeScope();
        var clip = nn.functional.pad(kept, [0, SlotWidth - kept.shape[2]]);
        var states = cat([clip.to_type(conditioning.Slot.dtype), conditioning.Slot], 1);
        var timestep = sigma * _scheduler.Config.NumTrainTimesteps;
        return Transformer.forward(latents, states, conditioning.Pooled, timestep).MoveToOuterDisposeScope();
    }

    public Tensor Guided(Tensor conditional, Tensor latents, Tensor sigma, Tensor guidance)
    {
        if (!ClassifierFreeGuidance.IsActive(guidance.max().item<float>())) return conditional;
        using var scope = NewDisposeScope();
        var batch = latents.shape[0];
        var unconditional = Velocity(latents, sigma, new TextConditioning(negative.Slot.expand(batch, -1, -1),
            negative.Kept!.expand(batch, -1, -1), negative.Pooled.expand(batch, -1)), guidance);
        var scale = guidance.to_type(conditional.dtype).view(-1, 1, 1, 1);
        return (unconditional + scale * (conditional - unconditional)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Samples as <see cref="Sd3Pipeline.Generate"/> draws them: the run's sample guidance as classifier-free guidance
    /// against the empty negative prompt (encoded through the same T5 slot), the pipeline's default T5 length.
    /// </summary>
    public ISampleRenderer SampleRenderer(string teacherFolder, StudentEncoder student) => new PipelineSampleRenderer<Sd3Pipeline>(
        teacherFolder, TeacherFamily.SlotEncoder(ModelFamily.Sd3), Transformer, student,
        slot => Sd3Pipeline.Around(teacherFolder, Transformer, slot),
        (pipeline, batch, slot) => pipeline.Generate(new Sd3Request(batch.Prompts, batch.Seed, batch.Steps, batch.Guidance,
            batch.Resolution, batch.Resolution, SeedEachPrompt: true), textEncoder3: slot));

    public void Dispose()
    {
        Transformer.Dispose();
        negative.Dispose();
    }
}
