using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.T5;

/// <summary>
/// The encoder stack (`encoder.*`): dropout on the embeddings, the blocks, the final RMS norm and dropout. Block 0
/// computes the relative position bias once; every block reuses it, with the padding mask added on the key axis.
/// </summary>
public sealed class T5Stack : nn.Module
{
    readonly ModuleList<T5Block> block;
    readonly T5LayerNorm final_layer_norm;
    readonly SeededDropout dropout;

    public T5Stack(T5Config config, ScalarType dtype) : base(nameof(T5Stack))
    {
        block = new ModuleList<T5Block>(Enumerable.Range(0, config.NumLayers).Select(i => new T5Block(config, hasRelativeAttentionBias: i == 0, dtype)).ToArray());
        final_layer_norm = new T5LayerNorm(config.DModel, config.LayerNormEpsilon, dtype);
        dropout = new SeededDropout(config.DropoutRate);
        RegisterComponents();
    }

    /// <param name="embeddings">[batch, seq, d_model] token embeddings.</param>
    /// <param name="attentionMask">[batch, seq], 1 for tokens to attend to and 0 for padding; null attends to all.</param>
    public Tensor forward(Tensor embeddings, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var bias = block[0].SelfAttentionLayer.Attention.ComputeBias(embeddings.shape[1]).to(embeddings.dtype);
        if (attentionMask is not null)
        {
            // transformers adds (1 - mask) * dtype.min to the scores of masked keys.
            var keyMask = (1 - attentionMask.to(embeddings.dtype)).mul(torch.finfo(embeddings.dtype).min);
            bias = bias + keyMask.view(attentionMask.shape[0], 1, 1, attentionMask.shape[1]);
        }
        var hidden = dropout.forward(embeddings);
        foreach (var b in block)
        {
            var next = b.forward(hidden, bias);
            hidden.Dispose();
            hidden = next;
        }
        return dropout.forward(final_layer_norm.forward(hidden)).MoveToOuterDisposeScope();
    }
}
