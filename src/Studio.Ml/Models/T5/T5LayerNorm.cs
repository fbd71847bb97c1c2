using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.T5;

/// <summary>
/// T5's RMS norm: x * rsqrt(mean(x^2) + eps) * weight, no mean subtraction and no bias. The statistics are computed in
/// float32 whatever the weights' dtype; the result is cast back to a half-precision weight dtype, as in transformers.
/// </summary>
public sealed class T5LayerNorm : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly double _eps;

    public T5LayerNorm(long dim, double eps, ScalarType dtype) : base(nameof(T5LayerNorm))
    {
        weight = new Parameter(torch.ones(dim, dtype));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var variance = x.to(ScalarType.Float32).pow(2).mean([-1], keepdim: true);
        var normed = x * torch.rsqrt(variance + _eps);
        if (weight.dtype is ScalarType.Float16 or ScalarType.BFloat16) normed = normed.to(weight.dtype);
        return (weight * normed).MoveToOuterDisposeScope();
    }
}
