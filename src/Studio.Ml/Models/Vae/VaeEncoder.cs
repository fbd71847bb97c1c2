using Studio.Ml.Models.Common;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>
/// diffusers `Encoder` (vae.py): conv_in, down blocks, mid block, GroupNorm + SiLU, conv_out to twice the latent
/// channels (mean and log-variance).
/// </summary>
public sealed class VaeEncoder : Module<Tensor, Tensor>
{
    const double Eps = 1e-6;

    readonly GuardedConv2d conv_in;
    readonly ModuleList<DownEncoderBlock2D> down_blocks;
    readonly UNetMidBlock2D mid_block;
    readonly GroupNorm conv_norm_out;
    readonly GuardedConv2d conv_out;

    public VaeEncoder(AutoencoderKLConfig config) : base(nameof(VaeEncoder))
    {
        var channels = config.BlockOutChannels;
        var groups = config.NormNumGroups;
        conv_in = new GuardedConv2d(config.InChannels, channels[0], 3, padding: 1);
        down_blocks = ModuleList(channels.Select((outChannels, i) => new DownEncoderBlock2D(
            i == 0 ? channels[0] : channels[i - 1], outChannels, config.LayersPerBlock, groups, Eps,
            addDownsample: i < channels.Length - 1)).ToArray());
        mid_block = new UNetMidBlock2D(channels[^1], groups, Eps, config.MidBlockAddAttention);
        conv_norm_out = GroupNorm(groups, channels[^1], Eps);
        conv_out = new GuardedConv2d(channels[^1], 2 * config.LatentChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor image)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(image);
        foreach (var block in down_blocks) h = block.forward(h);
        h = mid_block.forward(h);
        return conv_out.forward(functional.silu(conv_norm_out.forward(h))).MoveToOuterDisposeScope();
    }
}
