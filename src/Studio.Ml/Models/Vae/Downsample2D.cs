using Studio.Ml.Models.Common;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>
/// diffusers `Downsample2D` of the VAE encoder: a stride-2 3x3 conv without padding after padding one row and column
/// at the bottom and right only (the asymmetric padding the VAE was trained with).
/// </summary>
public sealed class Downsample2D : Module<Tensor, Tensor>
{
    readonly GuardedConv2d conv;

    public Downsample2D(long channels) : base(nameof(Downsample2D))
    {
        conv = new GuardedConv2d(channels, channels, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var padded = functional.pad(x, [0, 1, 0, 1]);
        return conv.forward(padded);
    }
}
