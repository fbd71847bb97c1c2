using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.T5;

/// <summary>One encoder block: `layer.0` self-attention step, then `layer.1` feed-forward step.</summary>
public sealed class T5Block : nn.Module
{
    readonly ModuleList<nn.Module> layer;

    public T5Block(T5Config config, bool hasRelativeAttentionBias, ScalarType dtype) : base(nameof(T5Block))
    {
        layer = new ModuleList<nn.Module>(new T5LayerSelfAttention(config, hasRelativeAttentionBias, dtype), new T5LayerFF(config, dtype));
        RegisterComponents();
    }

    public T5LayerSelfAttention SelfAttentionLayer => (T5LayerSelfAttention)layer[0];
    public T5LayerFF FeedForwardLayer => (T5LayerFF)layer[1];

    public Tensor forward(Tensor hidden, Tensor bias)
    {
        using var attended = ClampHalf(SelfAttentionLayer.forward(hidden, bias));
        return ClampHalf(FeedForwardLayer.forward(attended));
    }

    /// <summary>T5's activations overflow float16; like transformers, pull infinities back inside the range.</summary>
    static Tensor ClampHalf(Tensor hidden)
    {
        if (hidden.dtype != ScalarType.Float16) return hidden;
        using var infinite = hidden.isinf().any();
        var limit = torch.finfo(ScalarType.Float16).max - (infinite.item<bool>() ? 1000 : 0);
        using (hidden) return hidden.clamp(-limit, limit);
    }
}
