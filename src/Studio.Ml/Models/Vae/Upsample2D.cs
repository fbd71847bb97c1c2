using Studio.Ml.Models.Common;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>diffusers `Upsample2D` of the VAE decoder: nearest-neighbour x2, then a 3x3 conv.</summary>
public sealed class Upsample2D : Module<Tensor, Tensor>
{
    readonly GuardedConv2d conv;

    public Upsample2D(long channels) : base(nameof(Upsample2D))
    {
        conv = new GuardedConv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var upsampled = functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return conv.forward(upsampled);
    }
}
