using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>fc2(act(fc1 x)), act = quick_gelu (CLIP-L) or exact gelu (CLIP-bigG).</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear fc1, fc2;
    readonly Func<Tensor, Tensor> _act;

    public ClipMlp(ClipEncoderConfig config, ScalarType dtype) : base(nameof(ClipMlp))
    {
        fc1 = nn.Linear(config.HiddenSize, config.IntermediateSize, dtype: dtype);
        fc2 = nn.Linear(config.IntermediateSize, config.HiddenSize, dtype: dtype);
        _act = Activations.Get(config.HiddenAct);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(_act(fc1.forward(x))).MoveToOuterDisposeScope();
    }
}
