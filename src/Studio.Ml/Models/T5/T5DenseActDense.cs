using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.T5;

/// <summary>T5 v1.0 feed-forward: wo(dropout(act(wi x))).</summary>
public sealed class T5DenseActDense : nn.Module<Tensor, Tensor>
{
    readonly Linear wi, wo;
    readonly SeededDropout dropout;
    readonly Func<Tensor, Tensor> _act;

    public T5DenseActDense(T5Config config, ScalarType dtype) : base(nameof(T5DenseActDense))
    {
        wi = nn.Linear(config.DModel, config.DFf, hasBias: false, dtype: dtype);
        wo = nn.Linear(config.DFf, config.DModel, hasBias: false, dtype: dtype);
        dropout = new SeededDropout(config.DropoutRate);
        _act = Activations.Get(config.DenseActFn);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return wo.forward(dropout.forward(_act(wi.forward(x)))).MoveToOuterDisposeScope();
    }
}
