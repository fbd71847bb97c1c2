using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Sd3;

/// <summary>The modulation of <see cref="SD35AdaLayerNormZeroX"/>: adaLN-Zero's terms plus the second attention's input and gate.</summary>
public readonly record struct AdaLayerNormZeroXOutput(
    Tensor Normed, Tensor GateMsa, Tensor ShiftMlp, Tensor ScaleMlp, Tensor GateMlp, Tensor Normed2, Tensor GateMsa2);

/// <summary>
/// diffusers `SD35AdaLayerNormZeroX` (SD3.5 blocks with dual attention): `linear(silu(emb))` split into nine terms:
/// shift, scale, gate for attention, for the MLP and for the second (image-only) attention, in that order; both
/// attention inputs are the same layer norm (no affine, eps 1e-6) modulated by their own shift and scale.
/// </summary>
public sealed class SD35AdaLayerNormZeroX : Module<Tensor, Tensor, AdaLayerNormZeroXOutput>
{
    readonly Linear linear;

    public SD35AdaLayerNormZeroX(long embeddingDim) : base(nameof(SD35AdaLayerNormZeroX))
    {
        linear = Linear(embeddingDim, 9 * embeddingDim);
        RegisterComponents();
    }

    public override AdaLayerNormZeroXOutput forward(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var t = linear.forward(functional.silu(emb)).chunk(9, dim: 1);
        var normed = functional.layer_norm(x, [x.shape[^1]], eps: 1e-6);
        var first = normed * (1 + t[1].unsqueeze(1)) + t[0].unsqueeze(1);
        var second = normed * (1 + t[7].unsqueeze(1)) + t[6].unsqueeze(1);
        return new AdaLayerNormZeroXOutput(first.MoveToOuterDisposeScope(), t[2].MoveToOuterDisposeScope(),
            t[3].MoveToOuterDisposeScope(), t[4].MoveToOuterDisposeScope(), t[5].MoveToOuterDisposeScope(),
            second.MoveToOuterDisposeScope(), t[8].MoveToOuterDisposeScope());
    }
}
