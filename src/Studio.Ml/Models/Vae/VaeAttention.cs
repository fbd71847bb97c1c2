using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>
/// The mid-block attention of the VAE (diffusers `Attention` with `norm_num_groups`, one head as wide as the channels,
/// residual connection): every pixel attends to every pixel of the group-normed feature map.
/// </summary>
public sealed class VaeAttention : Module<Tensor, Tensor>
{
    readonly GroupNorm group_norm;
    readonly Linear to_q;
    readonly Linear to_k;
    readonly Linear to_v;
    readonly ModuleList<Linear> to_out;

    public VaeAttention(long channels, long groups, double eps) : base(nameof(VaeAttention))
    {
        group_norm = GroupNorm(groups, channels, eps);
        to_q = Linear(channels, channels);
        to_k = Linear(channels, channels);
        to_v = Linear(channels, channels);
        to_out = ModuleList(Linear(channels, channels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        // (B, C, H, W) -> (B, 1 head, H*W tokens, C)
        var tokens = group_norm.forward(x).view(b, c, h * w).transpose(1, 2).unsqueeze(1);
        var attended = functional.scaled_dot_product_attention(to_q.forward(tokens), to_k.forward(tokens), to_v.forward(tokens));
        var output = to_out[0].forward(attended.squeeze(1)).transpose(1, 2).reshape(b, c, h, w);
        return (output + x).MoveToOuterDisposeScope();
    }
}
