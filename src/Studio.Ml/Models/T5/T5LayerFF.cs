using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.T5;

/// <summary>Pre-norm residual feed-forward step of a block: h + dropout(DenseReluDense(layer_norm(h))).</summary>
public sealed class T5LayerFF : nn.Module<Tensor, Tensor>
{
    // transformers keeps the name DenseReluDense for the gated GELU variant too.
    readonly nn.Module<Tensor, Tensor> DenseReluDense;
    readonly T5LayerNorm layer_norm;
    readonly SeededDropout dropout;

    public T5LayerFF(T5Config config, ScalarType dtype) : base(nameof(T5LayerFF))
    {
        DenseReluDense = config.IsGatedAct ? new T5DenseGatedActDense(config, dtype) : new T5DenseActDense(config, dtype);
        layer_norm = new T5LayerNorm(config.DModel, config.LayerNormEpsilon, dtype);
        dropout = new SeededDropout(config.DropoutRate);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var normed = layer_norm.forward(hidden);
        using var transformed = DenseReluDense.forward(normed);
        using var dropped = dropout.forward(transformed);
        return hidden + dropped;
    }
}
