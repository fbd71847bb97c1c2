using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>diffusers `UpDecoderBlock2D`: resnets (one more than the encoder's), then a x2 upsampler on every block but the last.</summary>
public sealed class UpDecoderBlock2D : Module<Tensor, Tensor>
{
    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<Upsample2D> upsamplers;

    public UpDecoderBlock2D(long inChannels, long outChannels, int layers, long groups, double eps, bool addUpsample)
        : base(nameof(UpDecoderBlock2D))
    {
        resnets = ModuleList(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, groups, eps)).ToArray());
        upsamplers = addUpsample ? ModuleList(new Upsample2D(outChannels)) : ModuleList<Upsample2D>();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var resnet in resnets) x = resnet.forward(x);
        foreach (var upsampler in upsamplers) x = upsampler.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}
