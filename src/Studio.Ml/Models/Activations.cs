using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Studio.Ml.Models;

/// <summary>The activation functions of transformers' ACT2FN that the text encoders use, by config name.</summary>
public static class Activations
{
    public static Func<Tensor, Tensor> Get(string name) => name switch
    {
        "relu" => x => F.relu(x),
        "gelu" => x => F.gelu(x),
        // transformers' gelu_new is the tanh approximation that PyTorch's gelu(approximate="tanh") computes.
        "gelu_new" or "gelu_pytorch_tanh" => x => F.gelu(x, GELU.Approximate.tanh),
        "quick_gelu" => x => x * F.sigmoid(1.702 * x),
        "silu" or "swish" => x => F.silu(x),
        _ => throw new NotSupportedException($"activation '{name}' is not supported (relu, gelu, gelu_new, gelu_pytorch_tanh, quick_gelu, silu)"),
    };
}
