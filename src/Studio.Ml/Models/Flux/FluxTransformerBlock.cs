using Studio.Ml.Models.Common;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Flux;

/// <summary>
/// diffusers `FluxTransformerBlock` (a double-stream MMDiT block): image and text tokens keep their own adaLN-Zero
/// modulation, projections and feed-forward, and meet in one joint attention with RMS-normed q/k and rotary positions.
/// </summary>
public sealed class FluxTransformerBlock : Module
{
    const double NormEps = 1e-6;
    readonly AdaLayerNormZero norm1;
    readonly AdaLayerNormZero norm1_context;
    readonly JointAttention attn;
    readonly FeedForward ff;
    readonly FeedForward ff_context;

    public FluxTransformerBlock(long dim, long heads, long headDim) : base(nameof(FluxTransformerBlock))
    {
        norm1 = new AdaLayerNormZero(dim);
        norm1_context = new AdaLayerNormZero(dim);
        attn = new JointAttention(dim, heads, headDim, qkNormEps: NormEps, withContext: true);
        ff = new FeedForward(dim, dim);
        ff_context = new FeedForward(dim, dim);
        RegisterComponents();
    }

    /// <returns>The updated text tokens and image tokens.</returns>
    public (Tensor Context, Tensor Hidden) forward(Tensor hidden, Tensor context, Tensor temb, RotaryEmbedding rotary)
    {
        using var scope = NewDisposeScope();
        var image = norm1.forward(hidden, temb);
        var text = norm1_context.forward(context, temb);
        var (imageAttention, textAttention) = attn.forward(image.Normed, text.Normed, rotary);

        hidden = hidden + image.GateMsa.unsqueeze(1) * imageAttention;
        var imageMlpInput = PlainLayerNorm.Apply(hidden, NormEps) * (1 + image.ScaleMlp.unsqueeze(1)) + image.ShiftMlp.unsqueeze(1);
        hidden = hidden + image.GateMlp.unsqueeze(1) * ff.forward(imageMlpInput);

        context = context + text.GateMsa.unsqueeze(1) * textAttention!;
        var textMlpInput = PlainLayerNorm.Apply(context, NormEps) * (1 + text.ScaleMlp.unsqueeze(1)) + text.ShiftMlp.unsqueeze(1);
        context = context + text.GateMlp.unsqueeze(1) * ff_context.forward(textMlpInput);
        if (context.dtype == ScalarType.Float16) context = context.clip(-65504, 65504);
        return (context.MoveToOuterDisposeScope(), hidden.MoveToOuterDisposeScope());
    }
}
