using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>diffusers `DownEncoderBlock2D`: resnets, then a stride-2 downsampler on every block but the last.</summary>
public sealed class DownEncoderBlock2D : Module<Tensor, Tensor>
{
    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<Downsample2D> downsamplers;

    public DownEncoderBlock2D(long inChannels, long outChannels, int layers, long groups, double eps, bool addDownsample)
        : base(nameof(DownEncoderBlock2D))
    {
        resnets = ModuleList(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, groups, eps)).ToArray());
        downsamplers = addDownsample ? ModuleList(new Downsample2D(outChannels)) : ModuleList<Downsample2D>();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var resnet in resnets) x = resnet.forward(x);
        foreach (var downsampler in downsamplers) x = downsampler.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}
