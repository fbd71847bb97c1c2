using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>Pre-LayerNorm block: h += self_attn(layer_norm1(h)); h += mlp(layer_norm2(h)).</summary>
public sealed class ClipEncoderLayer : nn.Module
{
    readonly ClipAttention self_attn;
    readonly LayerNorm layer_norm1, layer_norm2;
    readonly ClipMlp mlp;

    public ClipEncoderLayer(ClipEncoderConfig config, ScalarType dtype) : base(nameof(ClipEncoderLayer))
    {
        self_attn = new ClipAttention(config, dtype);
        layer_norm1 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, dtype: dtype);
        mlp = new ClipMlp(config, dtype);
        layer_norm2 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, dtype: dtype);
        RegisterComponents();
    }

    public Tensor forward(Tensor hidden, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var attended = hidden + self_attn.forward(layer_norm1.forward(hidden), mask);
        return (attended + mlp.forward(layer_norm2.forward(attended))).MoveToOuterDisposeScope();
    }
}
