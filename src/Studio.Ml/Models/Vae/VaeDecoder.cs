using Studio.Ml.Models.Common;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>
/// diffusers `Decoder` (vae.py): conv_in, mid block, up blocks (block_out_channels reversed, layers_per_block + 1
/// resnets each), GroupNorm + SiLU, conv_out to image channels.
/// </summary>
public sealed class VaeDecoder : Module<Tensor, Tensor>
{
    const double Eps = 1e-6;

    readonly GuardedConv2d conv_in;
    readonly UNetMidBlock2D mid_block;
    readonly ModuleList<UpDecoderBlock2D> up_blocks;
    readonly GroupNorm conv_norm_out;
    readonly GuardedConv2d conv_out;

    public VaeDecoder(AutoencoderKLConfig config) : base(nameof(VaeDecoder))
    {
        var reversed = config.BlockOutChannels.Reverse().ToArray();
        var groups = config.NormNumGroups;
        conv_in = new GuardedConv2d(config.LatentChannels, reversed[0], 3, padding: 1);
        mid_block = new UNetMidBlock2D(reversed[0], groups, Eps, config.MidBlockAddAttention);
        up_blocks = ModuleList(reversed.Select((outChannels, i) => new UpDecoderBlock2D(
            i == 0 ? reversed[0] : reversed[i - 1], outChannels, config.LayersPerBlock + 1, groups, Eps,
            addUpsample: i < reversed.Length - 1)).ToArray());
        conv_norm_out = GroupNorm(groups, reversed[^1], Eps);
        conv_out = new GuardedConv2d(reversed[^1], config.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var h = mid_block.forward(conv_in.forward(latents));
        foreach (var block in up_blocks) h = block.forward(h);
        return conv_out.forward(functional.silu(conv_norm_out.forward(h))).MoveToOuterDisposeScope();
    }
}
