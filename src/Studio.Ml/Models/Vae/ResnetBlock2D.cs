using Studio.Ml.Models.Common;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>
/// diffusers `ResnetBlock2D` as the VAE uses it (no time embedding): GroupNorm, SiLU, conv, GroupNorm, SiLU, conv, plus
/// the input (through a 1x1 `conv_shortcut` when the channel count changes).
/// </summary>
public sealed class ResnetBlock2D : Module<Tensor, Tensor>
{
    readonly GroupNorm norm1;
    readonly GuardedConv2d conv1;
    readonly GroupNorm norm2;
    readonly GuardedConv2d conv2;
    readonly GuardedConv2d? conv_shortcut;

    public ResnetBlock2D(long inChannels, long outChannels, long groups, double eps) : base(nameof(ResnetBlock2D))
    {
        norm1 = GroupNorm(groups, inChannels, eps);
        conv1 = new GuardedConv2d(inChannels, outChannels, 3, padding: 1);
        norm2 = GroupNorm(groups, outChannels, eps);
        conv2 = new GuardedConv2d(outChannels, outChannels, 3, padding: 1);
        conv_shortcut = inChannels != outChannels ? new GuardedConv2d(inChannels, outChannels, 1) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(functional.silu(norm1.forward(input)));
        h = conv2.forward(functional.silu(norm2.forward(h)));
        var shortcut = conv_shortcut?.forward(input) ?? input;
        return (shortcut + h).MoveToOuterDisposeScope();
    }
}
