using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Common;

/// <summary>
/// A Conv2d (`weight`, `bias`, PyTorch's default init) that works around a LibTorch 2.10 CPU defect: in bf16, a
/// convolution with a kernel larger than 1x1 and an output channel count that is not a multiple of 16 returns wrong
/// values (20-70% relative error, measured on this AVX-512-bf16 CPU; e.g. the VAE's 3-channel conv_out). Such a
/// convolution is computed in float32 and cast back; every other case is the plain conv2d.
/// </summary>
public sealed class GuardedConv2d : Module<Tensor, Tensor>
{
    readonly long _stride;
    readonly long _padding;
    readonly bool _needsGuard;
    readonly Parameter weight;
    readonly Parameter? bias;

    public GuardedConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, bool hasBias = true)
        : base(nameof(GuardedConv2d))
    {
        _stride = stride;
        _padding = padding;
        _needsGuard = kernelSize > 1 && outChannels % 16 != 0;
        using (var init = Conv2d(inChannels, outChannels, kernelSize, stride, padding, bias: hasBias))
        {
            weight = Parameter(init.weight!.detach().clone());
            bias = hasBias ? Parameter(init.bias!.detach().clone()) : null;
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (!(_needsGuard && x.dtype == ScalarType.BFloat16 && x.device_type == DeviceType.CPU))
            return functional.conv2d(x, weight, bias, [_stride, _stride], [_padding, _padding]);
        using var scope = NewDisposeScope();
        var output = functional.conv2d(x.to_type(ScalarType.Float32), weight.to_type(ScalarType.Float32),
            bias?.to_type(ScalarType.Float32), [_stride, _stride], [_padding, _padding]);
        return output.to_type(x.dtype).MoveToOuterDisposeScope();
    }
}
