using Studio.Ml.Models.Flux;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>What the FLUX transformer is conditioned on for a batch: T5-slot states (B, T, joint_attention_dim) and the pooled CLIP vector (B, pooled_projection_dim).</summary>
public sealed record FluxConditioning(Tensor PromptEmbeds, Tensor PooledPromptEmbeds) : IDisposable
{
    public void Dispose()
    {
        PromptEmbeds.Dispose();
        PooledPromptEmbeds.Dispose();
    }
}

/// <summary>
/// The denoising loop of diffusers' `FluxPipeline`, from conditioning to final packed latents: Euler steps over the
/// dynamically shifted flow-matching schedule with embedded guidance (FLUX.1-dev), or without guidance for
/// FLUX.1-schnell; optionally with diffusers' "true" classifier-free guidance against a negative prompt.
/// </summary>
public sealed class FluxDenoiser(FluxTransformer transformer, FlowMatchEulerScheduler scheduler)
{
    /// <summary>
    /// The latent grid of an image: FluxPipeline's 2 * (size // (2 * vaeScaleFactor)) rows and columns, so the packed
    /// grid is half of it. Sizes must be multiples of 2 * vaeScaleFactor (16 for FLUX).
    /// </summary>
    public static (int Height, int Width) LatentSize(int height, int width, int vaeScaleFactor)
    {
        var multiple = 2 * vaeScaleFactor;
        if (height <= 0 || width <= 0 || height % multiple != 0 || width % multiple != 0)
            throw new ArgumentException($"width and height must be positive multiples of {multiple}; got {width}x{height}");
        return (height / vaeScaleFactor, width / vaeScaleFactor);
    }

    /// <summary>
    /// FluxPipeline's `prepare_latents`: N(0, 1) noise (B, in_channels/4, latentHeight, latentWidth) drawn from the
    /// generator directly in the transformer's dtype (as `randn_tensor(..., dtype=prompt_embeds.dtype)`: LibTorch draws
    /// bf16 noise differently from float32 noise cast to bf16, so this keeps a seed's image equal to diffusers'), then packed
    /// and moved to the transformer's device. Drawn on the generator's device (the pipelines' CPU generator, as diffusers
    /// draws), so a seed gives the same noise whatever device the transformer is on.
    /// </summary>
    public Tensor InitialLatents(int batch, int latentHeight, int latentWidth, Generator generator)
    {
        using var noise = randn([batch, transformer.Config.InChannels / 4, latentHeight, latentWidth], dtype: DType, device: generator.device, generator: generator);
        using var packed = LatentPacking.Pack(noise);
        return packed.to(ComputeDevice.Of(transformer));
    }

    /// <summary>FluxPipeline's schedule for this many steps at this latent size (mu from the packed token count).</summary>
    public FlowMatchSchedule Schedule(int steps, int latentHeight, int latentWidth) =>
        scheduler.FluxInference(steps, latentHeight / 2 * (latentWidth / 2));

    /// <summary>Runs every step of <paramref name="schedule"/> and returns the final packed latents (model space: unpack and unscale before the VAE).</summary>
    /// <param name="guidance">The embedded guidance scale (FLUX.1-dev); ignored by a model without a guidance embedder.</param>
    /// <param name="onStep">Called after each step with its index (progress reporting).</param>
    /// <param name="trueCfg">The negative prompt's conditioning and the scale: velocity = negative + scale * (positive - negative).</param>
    public Tensor Denoise(Tensor latents, int latentHeight, int latentWidth, FlowMatchSchedule schedule, FluxConditioning conditioning,
        double guidance, Action<int>? onStep = null, (FluxConditioning Negative, double Scale)? trueCfg = null)
    {
        var batch = latents.shape[0];
        using var _ = no_grad();
        using var outer = NewDisposeScope();
        var embeds = conditioning.PromptEmbeds.to_type(DType);
        var pooled = conditioning.PooledPromptEmbeds.to_type(DType);
        var device = ComputeDevice.Of(transformer);
        var imageIds = LatentPacking.ImageIds(latentHeight / 2, latentWidth / 2, DType, device);
        var textIds = LatentPacking.TextIds(embeds.shape[1], DType, device);
        var negativeEmbeds = trueCfg?.Negative.PromptEmbeds.to_type(DType);
        var negativePooled = trueCfg?.Negative.PooledPromptEmbeds.to_type(DType);
        var guidanceVector = transformer.Config.GuidanceEmbeds ? full(batch, guidance, dtype: ScalarType.Float32, device: device) : null;
        var current = latents.to_type(DType);
        for (var i = 0; i < schedule.Steps; i++)
        {
            using var step = NewDisposeScope();
            // As the pipeline: the timestep is cast to the latents' dtype, then divided by 1000.
            var timestep = full(batch, schedule.Timesteps[i], dtype: ScalarType.Float32, device: device).to_type(current.dtype) / 1000;
            var velocity = transformer.forward(current, embeds, pooled, timestep, imageIds, textIds, guidanceVector);
            if (trueCfg is { Scale: var scale })
            {
                var negativeVelocity = transformer.forward(current, negativeEmbeds!, negativePooled!, timestep, imageIds, textIds, guidanceVector);
                velocity = negativeVelocity + scale * (velocity - negativeVelocity);
            }
            var previous = current;
            current = schedule.Step(velocity, i, current).MoveToOuterDisposeScope();
            previous.Dispose();
            onStep?.Invoke(i);
        }
        return current.MoveToOuterDisposeScope();
    }

    ScalarType DType => transformer.parameters().First().dtype;
}
