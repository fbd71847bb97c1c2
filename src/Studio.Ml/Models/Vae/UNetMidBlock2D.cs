using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>diffusers `UNetMidBlock2D` of the VAE: resnet, attention (unless disabled by the config), resnet.</summary>
public sealed class UNetMidBlock2D : Module<Tensor, Tensor>
{
    readonly ModuleList<VaeAttention> attentions;
    readonly ModuleList<ResnetBlock2D> resnets;

    public UNetMidBlock2D(long channels, long groups, double eps, bool addAttention) : base(nameof(UNetMidBlock2D))
    {
        attentions = addAttention ? ModuleList(new VaeAttention(channels, groups, eps)) : ModuleList<VaeAttention>();
        resnets = ModuleList(new ResnetBlock2D(channels, channels, groups, eps), new ResnetBlock2D(channels, channels, groups, eps));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = resnets[0].forward(x);
        if (attentions.Count > 0) h = attentions[0].forward(h);
        return resnets[1].forward(h).MoveToOuterDisposeScope();
    }
}
