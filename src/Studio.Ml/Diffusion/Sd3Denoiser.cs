using Studio.Ml.Models.Sd3;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>What SD3's transformer is conditioned on for a batch: joint text states (B, T, joint_attention_dim) and the pooled vector (B, pooled_projection_dim).</summary>
public sealed record Sd3Conditioning(Tensor PromptEmbeds, Tensor PooledPromptEmbeds) : IDisposable
{
    public void Dispose()
    {
        PromptEmbeds.Dispose();
        PooledPromptEmbeds.Dispose();
    }
}

/// <summary>
/// The denoising loop of diffusers' `StableDiffusion3Pipeline`, from text conditioning to final latents: Euler steps
/// over the static-shift flow-matching schedule, with classifier-free guidance when the scale exceeds 1 (the
/// negative and positive batches run as one batch, negative first, and are combined).
/// </summary>
public sealed class Sd3Denoiser(Sd3Transformer transformer)
{
    /// <summary>
    /// The initial noise: N(0, 1) of shape (B, in_channels, H / f, W / f) drawn from the generator in
    /// <paramref name="dtype"/> (the pipeline's `prepare_latents` draws in the text states' dtype); f is the VAE's
    /// downscale factor. H and W must be multiples of f times the patch size.
    /// </summary>
    public Tensor InitialLatents(int batch, int height, int width, int vaeDownscaleFactor, Generator generator, ScalarType dtype = ScalarType.Float32)
    {
        var multiple = vaeDownscaleFactor * transformer.Config.PatchSize;
        if (height <= 0 || width <= 0 || height % multiple != 0 || width % multiple != 0)
            throw new ArgumentException($"width and height must be positive multiples of {multiple}; got {width}x{height}");
        // Drawn on the generator's device (the pipeline's CPU generator), then moved: a seed gives the same noise on every device.
        using var noise = randn([batch, transformer.Config.InChannels, height / vaeDownscaleFactor, width / vaeDownscaleFactor], dtype: dtype,
            device: generator.device, generator: generator);
        return noise.to(ComputeDevice.Of(transformer));
    }

    /// <summary>Runs every step of <paramref name="schedule"/> from <paramref name="latents"/> and returns the final latents (model space: unscale before the VAE).</summary>
    /// <param name="negative">The negative-prompt conditioning; required when guidance is active.</param>
    /// <param name="onStep">Called after each step with its index (progress reporting).</param>
    public Tensor Denoise(Tensor latents, FlowMatchSchedule schedule, Sd3Conditioning positive, Sd3Conditioning? negative,
        double guidanceScale, Action<int>? onStep = null)
    {
        var guided = ClassifierFreeGuidance.IsActive(guidanceScale);
        if (guided && negative is null)
            throw new ArgumentException($"guidance scale {guidanceScale} > 1 needs a negative conditioning (an empty prompt's)", nameof(negative));
        using var _ = no_grad();
        using var outer = NewDisposeScope();
        var embeds = guided ? cat([negative!.PromptEmbeds, positive.PromptEmbeds], 0) : positive.PromptEmbeds.alias();
        var pooled = guided ? cat([negative!.PooledPromptEmbeds, positive.PooledPromptEmbeds], 0) : positive.PooledPromptEmbeds.alias();
        var current = latents.alias();
        for (var i = 0; i < schedule.Steps; i++)
        {
            using var step = NewDisposeScope();
            var input = guided ? cat([current, current], 0) : current;
            var timestep = full(input.shape[0], schedule.Timesteps[i], dtype: ScalarType.Float32, device: input.device);
            var prediction = transformer.forward(input.to_type(embeds.dtype), embeds, pooled, timestep);
            if (guided)
            {
                var halves = prediction.chunk(2, 0);
                prediction = ClassifierFreeGuidance.Combine(halves[0], halves[1], guidanceScale);
            }
            var previous = current;
            current = schedule.Step(prediction, i, current).to_type(latents.dtype).MoveToOuterDisposeScope();
            previous.Dispose();
            onStep?.Invoke(i);
        }
        return current.MoveToOuterDisposeScope();
    }
}
