using Studio.Ml.Models.Common;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Sd3;

/// <summary>
/// diffusers `JointTransformerBlock` (MMDiT): image and context streams, each modulated by adaLN-Zero from the
/// conditioning vector, attend jointly; each then adds its gated attention output and its gated feed-forward. The
/// last block is context-pre-only: its context is only read (AdaLayerNormContinuous, no output projection, no MLP).
/// SD3.5's dual-attention blocks add a second, image-only attention with its own modulation.
/// </summary>
public sealed class JointTransformerBlock : Module
{
    const double Eps = 1e-6;

    readonly Module norm1;          // AdaLayerNormZero, or SD35AdaLayerNormZeroX with dual attention
    readonly Module norm1_context;  // AdaLayerNormZero, or AdaLayerNormContinuous in the context-pre-only block
    readonly JointAttention attn;
    readonly JointAttention? attn2;
    readonly FeedForward ff;
    readonly FeedForward? ff_context;

    public bool ContextPreOnly { get; }

    public JointTransformerBlock(long dim, long heads, long headDim, bool contextPreOnly, bool qkRmsNorm, bool dualAttention)
        : base(nameof(JointTransformerBlock))
    {
        ContextPreOnly = contextPreOnly;
        double? qkNormEps = qkRmsNorm ? Eps : null;
        norm1 = dualAttention ? new SD35AdaLayerNormZeroX(dim) : new AdaLayerNormZero(dim);
        norm1_context = contextPreOnly ? new AdaLayerNormContinuous(dim, dim, Eps) : new AdaLayerNormZero(dim);
        attn = new JointAttention(dim, heads, headDim, qkNormEps, withContext: true, contextPreOnly: contextPreOnly);
        if (dualAttention) attn2 = new JointAttention(dim, heads, headDim, qkNormEps, withContext: false);
        ff = new FeedForward(dim, dim);
        if (!contextPreOnly) ff_context = new FeedForward(dim, dim);
        RegisterComponents();
    }

    /// <returns>The updated context (null after a context-pre-only block) and image tokens.</returns>
    public (Tensor? Context, Tensor Hidden) forward(Tensor hidden, Tensor context, Tensor temb)
    {
        using var scope = NewDisposeScope();
        Tensor normed, gateMsa, shiftMlp, scaleMlp, gateMlp;
        Tensor? normed2 = null, gateMsa2 = null;
        if (norm1 is SD35AdaLayerNormZeroX dual)
            (normed, gateMsa, shiftMlp, scaleMlp, gateMlp, normed2, gateMsa2) = dual.forward(hidden, temb);
        else
            (normed, gateMsa, shiftMlp, scaleMlp, gateMlp) = ((AdaLayerNormZero)norm1).forward(hidden, temb);

        Tensor normedContext;
        AdaLayerNormZeroOutput contextTerms = default;
        if (norm1_context is AdaLayerNormContinuous preOnly) normedContext = preOnly.forward(context, temb);
        else
        {
            contextTerms = ((AdaLayerNormZero)norm1_context).forward(context, temb);
            normedContext = contextTerms.Normed;
        }

        var (attnOut, contextAttnOut) = attn.forward(normed, normedContext, null);
        hidden = hidden + gateMsa.unsqueeze(1) * attnOut;
        if (attn2 is not null)
        {
            var (attn2Out, _) = attn2.forward(normed2!, null, null);
            hidden = hidden + gateMsa2!.unsqueeze(1) * attn2Out;
        }
        var mlpIn = Modulate(hidden, shiftMlp, scaleMlp);
        hidden = hidden + gateMlp.unsqueeze(1) * ff.forward(mlpIn);

        if (ff_context is null) return (null, hidden.MoveToOuterDisposeScope());
        context = context + contextTerms.GateMsa.unsqueeze(1) * contextAttnOut!;
        var contextMlpIn = Modulate(context, contextTerms.ShiftMlp, contextTerms.ScaleMlp);
        context = context + contextTerms.GateMlp.unsqueeze(1) * ff_context.forward(contextMlpIn);
        return (context.MoveToOuterDisposeScope(), hidden.MoveToOuterDisposeScope());
    }

    /// <summary>LayerNorm (no affine, eps 1e-6) modulated by a per-sample shift and scale.</summary>
    static Tensor Modulate(Tensor x, Tensor shift, Tensor scale) =>
        functional.layer_norm(x, [x.shape[^1]], eps: Eps) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}
