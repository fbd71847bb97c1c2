using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Common;

/// <summary>diffusers `get_timestep_embedding`: sinusoidal features of (fractional) timesteps, computed in float32.</summary>
public static class SinusoidalEmbedding
{
    /// <param name="timesteps">One value per batch element, shape (N).</param>
    /// <param name="channels">Output width; half sines, half cosines (plus a zero column when odd).</param>
    /// <param name="flipSinToCos">True puts the cosines first (FLUX and SD3 use true).</param>
    /// <param name="downscaleFreqShift">Frequencies are exp(-ln(maxPeriod) * i / (channels/2 - shift)) (FLUX/SD3: 0).</param>
    public static Tensor Timesteps(Tensor timesteps, int channels, bool flipSinToCos, double downscaleFreqShift,
        double scale = 1, double maxPeriod = 10000)
    {
        if (timesteps.dim() != 1) throw new ArgumentException($"timesteps must be one value per batch element, got [{string.Join(", ", timesteps.shape)}]", nameof(timesteps));
        using var scope = NewDisposeScope();
        var half = channels / 2;
        var exponent = arange(0, half, dtype: ScalarType.Float32, device: timesteps.device) * (float)-Math.Log(maxPeriod);
        exponent = exponent / (float)(half - downscaleFreqShift);
        var angles = timesteps.to_type(ScalarType.Float32).unsqueeze(1) * exp(exponent).unsqueeze(0) * (float)scale;
        var embedding = flipSinToCos ? cat([cos(angles), sin(angles)], -1) : cat([sin(angles), cos(angles)], -1);
        if (channels % 2 == 1) embedding = functional.pad(embedding, [0, 1, 0, 0]);
        return embedding.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers `TimestepEmbedding`: linear_1, SiLU, linear_2.</summary>
public sealed class TimestepEmbedding : Module<Tensor, Tensor>
{
    readonly Linear linear_1;
    readonly Linear linear_2;

    public TimestepEmbedding(long inChannels, long timeEmbedDim) : base(nameof(TimestepEmbedding))
    {
        linear_1 = Linear(inChannels, timeEmbedDim);
        linear_2 = Linear(timeEmbedDim, timeEmbedDim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor sample)
    {
        using var hidden = functional.silu(linear_1.forward(sample));
        return linear_2.forward(hidden);
    }
}

/// <summary>diffusers `PixArtAlphaTextProjection` with SiLU, as FLUX and SD3 project the pooled text vector: linear_1, SiLU, linear_2.</summary>
public sealed class PixArtAlphaTextProjection : Module<Tensor, Tensor>
{
    readonly Linear linear_1;
    readonly Linear linear_2;

    public PixArtAlphaTextProjection(long inFeatures, long hiddenSize) : base(nameof(PixArtAlphaTextProjection))
    {
        linear_1 = Linear(inFeatures, hiddenSize);
        linear_2 = Linear(hiddenSize, hiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor caption)
    {
        using var hidden = functional.silu(linear_1.forward(caption));
        return linear_2.forward(hidden);
    }
}

/// <summary>
/// diffusers `CombinedTimestepTextProjEmbeddings` (SD3, FLUX.1-schnell) and, with a guidance embedder,
/// `CombinedTimestepGuidanceTextProjEmbeddings` (FLUX.1-dev): the sum of the timestep embedding, the optional guidance
/// embedding (same 256-channel cos-first sinusoid) and the projected pooled text vector.
/// </summary>
public sealed class CombinedTimestepTextProjEmbeddings : Module<Tensor, Tensor?, Tensor, Tensor>
{
    const int TimeProjChannels = 256;
    readonly TimestepEmbedding timestep_embedder;
    readonly TimestepEmbedding? guidance_embedder;
    readonly PixArtAlphaTextProjection text_embedder;

    public bool HasGuidance => guidance_embedder is not null;

    public CombinedTimestepTextProjEmbeddings(long embeddingDim, long pooledProjectionDim, bool guidanceEmbeds)
        : base(guidanceEmbeds ? "CombinedTimestepGuidanceTextProjEmbeddings" : nameof(CombinedTimestepTextProjEmbeddings))
    {
        timestep_embedder = new TimestepEmbedding(TimeProjChannels, embeddingDim);
        guidance_embedder = guidanceEmbeds ? new TimestepEmbedding(TimeProjChannels, embeddingDim) : null;
        text_embedder = new PixArtAlphaTextProjection(pooledProjectionDim, embeddingDim);
        RegisterComponents();
    }

    /// <param name="timestep">(N) timesteps as the model scales them (FLUX: t in [0,1] times 1000; SD3: [0,1000]).</param>
    /// <param name="guidance">(N) guidance values, scaled likewise; required exactly when the model has a guidance embedder.</param>
    /// <param name="pooledProjection">(N, pooled_projection_dim).</param>
    public override Tensor forward(Tensor timestep, Tensor? guidance, Tensor pooledProjection)
    {
        if (HasGuidance != guidance is not null)
            throw new ArgumentException(HasGuidance
                ? "this model embeds guidance (guidance_embeds true, e.g. FLUX.1-dev): pass a guidance value"
                : "this model has no guidance embedder (guidance_embeds false, e.g. FLUX.1-schnell): pass no guidance", nameof(guidance));
        using var scope = NewDisposeScope();
        var dtype = pooledProjection.dtype;
        var conditioning = timestep_embedder.forward(Project(timestep).to_type(dtype));
        if (guidance_embedder is not null) conditioning = conditioning + guidance_embedder.forward(Project(guidance!).to_type(dtype));
        return (conditioning + text_embedder.forward(pooledProjection)).MoveToOuterDisposeScope();
    }

    static Tensor Project(Tensor t) => SinusoidalEmbedding.Timesteps(t, TimeProjChannels, flipSinToCos: true, downscaleFreqShift: 0);
}
