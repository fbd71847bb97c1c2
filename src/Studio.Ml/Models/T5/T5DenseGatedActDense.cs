using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.T5;

/// <summary>T5 v1.1 / Flan feed-forward: wo(dropout(act(wi_0 x) * wi_1 x)), act = tanh-approximated GELU for "gated-gelu".</summary>
public sealed class T5DenseGatedActDense : nn.Module<Tensor, Tensor>
{
    readonly Linear wi_0, wi_1, wo;
    readonly SeededDropout dropout;
    readonly Func<Tensor, Tensor> _act;

    public T5DenseGatedActDense(T5Config config, ScalarType dtype) : base(nameof(T5DenseGatedActDense))
    {
        wi_0 = nn.Linear(config.DModel, config.DFf, hasBias: false, dtype: dtype);
        wi_1 = nn.Linear(config.DModel, config.DFf, hasBias: false, dtype: dtype);
        wo = nn.Linear(config.DFf, config.DModel, hasBias: false, dtype: dtype);
        dropout = new SeededDropout(config.DropoutRate);
        _act = Activations.Get(config.DenseActFn);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gated = _act(wi_0.forward(x)) * wi_1.forward(x);
        return wo.forward(dropout.forward(gated)).MoveToOuterDisposeScope();
    }
}
