using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.T5;

/// <summary>Pre-norm residual attention step of a block: h + dropout(SelfAttention(layer_norm(h))).</summary>
public sealed class T5LayerSelfAttention : nn.Module
{
    readonly T5Attention SelfAttention;
    readonly T5LayerNorm layer_norm;
    readonly SeededDropout dropout;

    public T5LayerSelfAttention(T5Config config, bool hasRelativeAttentionBias, ScalarType dtype) : base(nameof(T5LayerSelfAttention))
    {
        SelfAttention = new T5Attention(config, hasRelativeAttentionBias, dtype);
        layer_norm = new T5LayerNorm(config.DModel, config.LayerNormEpsilon, dtype);
        dropout = new SeededDropout(config.DropoutRate);
        RegisterComponents();
    }

    public T5Attention Attention => SelfAttention;

    public Tensor forward(Tensor hidden, Tensor bias)
    {
        using var normed = layer_norm.forward(hidden);
        using var attended = SelfAttention.forward(normed, bias);
        using var dropped = dropout.forward(attended);
        return hidden + dropped;
    }
}
