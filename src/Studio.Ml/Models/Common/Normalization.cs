using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Common;

/// <summary>
/// diffusers `RMSNorm` over the last dimension: x * rsqrt(mean(x^2) + eps) * weight, statistics in float32; with a
/// half-precision weight the normalised value is cast to the weight's dtype first, without weight back to the input's.
/// </summary>
public sealed class RMSNorm : Module<Tensor, Tensor>
{
    readonly Parameter? weight;
    readonly double _eps;

    public RMSNorm(long dim, double eps, bool elementwiseAffine = true) : base(nameof(RMSNorm))
    {
        weight = elementwiseAffine ? new Parameter(ones(dim)) : null;
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var variance = x.to_type(ScalarType.Float32).pow(2).mean([-1], keepdim: true);
        var normed = x * rsqrt(variance + _eps);
        if (weight is null) return normed.to_type(x.dtype).MoveToOuterDisposeScope();
        if (weight.dtype is ScalarType.Float16 or ScalarType.BFloat16) normed = normed.to_type(weight.dtype);
        return (normed * weight).MoveToOuterDisposeScope();
    }
}

/// <summary>LayerNorm without learned scale or bias, as every adaptive norm of FLUX and SD3 uses it.</summary>
static class PlainLayerNorm
{
    public static Tensor Apply(Tensor x, double eps) => functional.layer_norm(x, [x.shape[^1]], eps: eps);
}

/// <summary>The modulation of <see cref="AdaLayerNormZero"/>: the normed input plus the gate and MLP terms.</summary>
public readonly record struct AdaLayerNormZeroOutput(Tensor Normed, Tensor GateMsa, Tensor ShiftMlp, Tensor ScaleMlp, Tensor GateMlp);

/// <summary>
/// diffusers `AdaLayerNormZero` (adaLN-Zero): `linear(silu(emb))` is split into shift, scale, gate for attention and
/// for the MLP, in that order; the input is layer-normed (no affine, eps 1e-6) and modulated by the attention pair.
/// </summary>
public sealed class AdaLayerNormZero : Module<Tensor, Tensor, AdaLayerNormZeroOutput>
{
    readonly Linear linear;

    public AdaLayerNormZero(long embeddingDim) : base(nameof(AdaLayerNormZero))
    {
        linear = Linear(embeddingDim, 6 * embeddingDim);
        RegisterComponents();
    }

    public override AdaLayerNormZeroOutput forward(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var chunks = linear.forward(functional.silu(emb)).chunk(6, dim: 1);
        var (shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp) = (chunks[0], chunks[1], chunks[2], chunks[3], chunks[4], chunks[5]);
        var normed = PlainLayerNorm.Apply(x, 1e-6) * (1 + scaleMsa.unsqueeze(1)) + shiftMsa.unsqueeze(1);
        return new AdaLayerNormZeroOutput(normed.MoveToOuterDisposeScope(), gateMsa.MoveToOuterDisposeScope(),
            shiftMlp.MoveToOuterDisposeScope(), scaleMlp.MoveToOuterDisposeScope(), gateMlp.MoveToOuterDisposeScope());
    }
}

/// <summary>
/// diffusers `AdaLayerNormZeroSingle` (FLUX single-stream blocks): `linear(silu(emb))` split into shift, scale, gate;
/// returns the modulated layer norm (no affine, eps 1e-6) and the gate.
/// </summary>
public sealed class AdaLayerNormZeroSingle : Module<Tensor, Tensor, (Tensor Normed, Tensor Gate)>
{
    readonly Linear linear;

    public AdaLayerNormZeroSingle(long embeddingDim) : base(nameof(AdaLayerNormZeroSingle))
    {
        linear = Linear(embeddingDim, 3 * embeddingDim);
        RegisterComponents();
    }

    public override (Tensor Normed, Tensor Gate) forward(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var chunks = linear.forward(functional.silu(emb)).chunk(3, dim: 1);
        var normed = PlainLayerNorm.Apply(x, 1e-6) * (1 + chunks[1].unsqueeze(1)) + chunks[0].unsqueeze(1);
        return (normed.MoveToOuterDisposeScope(), chunks[2].MoveToOuterDisposeScope());
    }
}

/// <summary>
/// diffusers `AdaLayerNormContinuous` as FLUX and SD3 use it (layer norm without affine): `linear(silu(cond))` is split
/// into SCALE then SHIFT (the opposite order of the original FLUX `final_layer.adaLN_modulation`), and
/// x = norm(x) * (1 + scale) + shift.
/// </summary>
public sealed class AdaLayerNormContinuous : Module<Tensor, Tensor, Tensor>
{
    readonly Linear linear;
    readonly double _eps;

    public AdaLayerNormContinuous(long embeddingDim, long conditioningEmbeddingDim, double eps) : base(nameof(AdaLayerNormContinuous))
    {
        linear = Linear(conditioningEmbeddingDim, 2 * embeddingDim);
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor conditioning)
    {
        using var scope = NewDisposeScope();
        var chunks = linear.forward(functional.silu(conditioning).to_type(x.dtype)).chunk(2, dim: 1);
        var (scale, shift) = (chunks[0], chunks[1]);
        return (PlainLayerNorm.Apply(x, _eps) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)).MoveToOuterDisposeScope();
    }
}
