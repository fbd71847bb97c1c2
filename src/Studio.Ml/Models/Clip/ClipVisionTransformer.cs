using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>
/// `vision_model`: patch embeddings, a LayerNorm before the encoder (transformers spells it `pre_layrnorm`), the
/// encoder without a mask, and the class token's row through `post_layernorm` as the pooled output.
/// </summary>
public sealed class ClipVisionTransformer : nn.Module
{
    readonly ClipVisionEmbeddings embeddings;
    readonly LayerNorm pre_layrnorm;
    readonly ClipEncoder encoder;
    readonly LayerNorm post_layernorm;

    public ClipVisionTransformer(ClipVisionConfig config, ScalarType dtype) : base(nameof(ClipVisionTransformer))
    {
        embeddings = new ClipVisionEmbeddings(config, dtype);
        pre_layrnorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, dtype: dtype);
        encoder = new ClipEncoder(config.Encoder, dtype);
        post_layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, dtype: dtype);
        RegisterComponents();
    }

    /// <returns>last_hidden_state [batch, patches + 1, hidden] (no final norm, as transformers returns it) and the pooled rows [batch, hidden].</returns>
    public (Tensor LastHiddenState, Tensor Pooled) forward(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var hidden = pre_layrnorm.forward(embeddings.forward(pixelValues));
        var (last, _) = encoder.forward(hidden, null);
        var pooled = post_layernorm.forward(last.select(1, 0));
        return (last.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
    }
}
