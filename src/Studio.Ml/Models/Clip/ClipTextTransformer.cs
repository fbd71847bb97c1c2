using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>
/// `text_model`: embeddings, causal pre-LN encoder, final LayerNorm, and the pooled row at each sequence's EOS.
/// </summary>
public sealed class ClipTextTransformer : nn.Module
{
    readonly ClipTextEmbeddings embeddings;
    readonly ClipEncoder encoder;
    readonly LayerNorm final_layer_norm;
    readonly long _eosTokenId;

    public ClipTextTransformer(ClipTextConfig config, ScalarType dtype) : base(nameof(ClipTextTransformer))
    {
        embeddings = new ClipTextEmbeddings(config, dtype);
        encoder = new ClipEncoder(config.Encoder, dtype);
        final_layer_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, dtype: dtype);
        _eosTokenId = config.EosTokenId;
        RegisterComponents();
    }

    /// <returns>last_hidden_state [batch, seq, hidden], the pooled rows [batch, hidden], and the penultimate layer's output (no final norm).</returns>
    public (Tensor LastHiddenState, Tensor Pooled, Tensor PenultimateHiddenState) forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var hidden = embeddings.forward(inputIds);
        var mask = AttentionMask(inputIds.shape[1], attentionMask, hidden.dtype, hidden.device);
        var (encoded, penultimate) = encoder.forward(hidden, mask);
        var last = final_layer_norm.forward(encoded);
        var rows = torch.arange(inputIds.shape[0], dtype: ScalarType.Int64, device: inputIds.device);
        var pooled = last.index(TensorIndex.Tensor(rows), TensorIndex.Tensor(EosPositions(inputIds)));
        return (last.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope(), penultimate.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Where each sequence is pooled. The legacy CLIP-L config has eos_token_id 2 (wrong for its vocabulary), so
    /// transformers keeps the original rule there: the first position of the largest id (EOS 49407 is the largest).
    /// Otherwise: the first position holding eos_token_id.
    /// </summary>
    public Tensor EosPositions(Tensor inputIds)
    {
        using var ids = inputIds.to(ScalarType.Int32);
        if (_eosTokenId == 2) return ids.argmax(-1);
        using var isEos = ids.eq(_eosTokenId).to(ScalarType.Int32);
        return isEos.argmax(-1);
    }

    /// <summary>transformers' additive masks: dtype.min above the diagonal (causal), plus dtype.min on padded keys.</summary>
    static Tensor AttentionMask(long seq, Tensor? attentionMask, ScalarType dtype, Device device)
    {
        var min = torch.finfo(dtype).min;
        var causal = torch.full(seq, seq, min, dtype: dtype, device: device).triu(1).view(1, 1, seq, seq);
        if (attentionMask is null) return causal;
        using var padding = (1 - attentionMask.to(dtype)).mul(min).view(attentionMask.shape[0], 1, 1, seq);
        using (causal) return causal + padding;
    }
}
