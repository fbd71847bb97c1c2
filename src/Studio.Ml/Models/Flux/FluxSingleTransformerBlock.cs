using Studio.Ml.Models.Common;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Flux;

/// <summary>
/// diffusers `FluxSingleTransformerBlock`: one stream over [text, image] tokens; attention and a gelu-tanh MLP run in
/// parallel from the same adaLN-Zero-modulated input and are projected together (`proj_out` over their concatenation).
/// </summary>
public sealed class FluxSingleTransformerBlock : Module
{
    readonly AdaLayerNormZeroSingle norm;
    readonly Linear proj_mlp;
    readonly Linear proj_out;
    readonly JointAttention attn;

    public FluxSingleTransformerBlock(long dim, long heads, long headDim, double mlpRatio = 4.0) : base(nameof(FluxSingleTransformerBlock))
    {
        var mlpHidden = (long)(dim * mlpRatio);
        norm = new AdaLayerNormZeroSingle(dim);
        proj_mlp = Linear(dim, mlpHidden);
        proj_out = Linear(dim + mlpHidden, dim);
        attn = new JointAttention(dim, heads, headDim, qkNormEps: 1e-6, withContext: false, preOnly: true);
        RegisterComponents();
    }

    public Tensor forward(Tensor hidden, Tensor temb, RotaryEmbedding rotary)
    {
        using var scope = NewDisposeScope();
        var (normed, gate) = norm.forward(hidden, temb);
        var mlp = functional.gelu(proj_mlp.forward(normed), TorchSharp.Modules.GELU.Approximate.tanh);
        var (attention, _) = attn.forward(normed, null, rotary);
        var output = hidden + gate.unsqueeze(1) * proj_out.forward(cat([attention, mlp], 2));
        if (output.dtype == ScalarType.Float16) output = output.clip(-65504, 65504);
        return output.MoveToOuterDisposeScope();
    }
}
