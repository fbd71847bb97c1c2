using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Studio.Ml.Models;

/// <summary>The activation functions of transformers' ACT2FN that the text encoders use, by config name.</summary>
public static class Activations
{
    static readonly Dictionary<string, Func<Tensor, Tensor>> ByName = new()
    {
        ["relu"] = x => F.relu(x),
        ["gelu"] = x => F.gelu(x),
        // transformers' gelu_new is the tanh approximation that PyTorch's gelu(approximate="tanh") computes.
        ["gelu_new"] = x => F.gelu(x, GELU.Approximate.tanh),
        ["gelu_pytorch_tanh"] = x => F.gelu(x, GELU.Approximate.tanh),
        ["quick_gelu"] = x => x * F.sigmoid(1.702 * x),
        ["silu"] = x => F.silu(x),
        ["swish"] = x => F.silu(x),
    };

    public static IReadOnlyCollection<string> Names => ByName.Keys;

    public static bool IsKnown(string name) => ByName.ContainsKey(name);

    public static Func<Tensor, Tensor> Get(string name) =>
        ByName.TryGetValue(name, out var act) ? act : throw new NotSupportedException($"activation '{name}' is not one of {string.Join(", ", Names)}");
}
