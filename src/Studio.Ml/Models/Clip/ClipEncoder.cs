using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Clip;

/// <summary>The stack of encoder layers (`encoder.layers.N`).</summary>
public sealed class ClipEncoder : nn.Module
{
    readonly ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(ClipEncoderConfig config, ScalarType dtype) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new ClipEncoderLayer(config, dtype)).ToArray());
        RegisterComponents();
    }

    /// <param name="mask">additive attention mask (the text tower's causal one), or null (the vision tower).</param>
    /// <returns>The last layer's output, and the one before it (transformers' `hidden_states[-2]`, which SD3 conditions on).</returns>
    public (Tensor Last, Tensor Penultimate) forward(Tensor hidden, Tensor? mask)
    {
        var penultimate = hidden.alias();
        var current = hidden.alias();
        foreach (var layer in layers)
        {
            var next = layer.forward(current, mask);
            penultimate.Dispose();
            penultimate = current;
            current = next;
        }
        return (current, penultimate);
    }
}
