using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>The stack of encoder layers (`encoder.layers.N`).</summary>
public sealed class ClipEncoder : nn.Module
{
    readonly ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(ClipTextConfig config, ScalarType dtype) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new ClipEncoderLayer(config, dtype)).ToArray());
        RegisterComponents();
    }

    public Tensor forward(Tensor hidden, Tensor mask)
    {
        var current = hidden;
        foreach (var layer in layers)
        {
            var next = layer.forward(current, mask);
            if (!ReferenceEquals(current, hidden)) current.Dispose();
            current = next;
        }
        return current;
    }
}
