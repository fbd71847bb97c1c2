using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Common;

/// <summary>
/// A Conv2d (`weight`, `bias`, PyTorch's default init) that works around LibTorch 2.10 CPU defects with kernels larger
/// than 1x1 and channel counts that are not multiples of 16 (measured on this AVX-512-bf16 CPU against an
/// unfold-matmul reference, tests/Studio.Ml.Tests/Models/GuardedConv2dTests.cs):
/// - float32 forward is wrong (20-30% relative error, sometimes NaN) when there are more than 16 input channels and
///   their count is not a multiple of 16 (e.g. 24, 40);
/// - float32 backward into the input is wrong (garbage, often NaN, in 30-100% of calls; it differs from call to call)
///   when the output channel count is not a multiple of 16 (e.g. 3, 8, 24): this made the toy VAE's first training
///   step NaN about half the time;
/// - bf16 forward is wrong (20-70%) when the output channel count is not a multiple of 16.
/// Such a convolution runs on channels zero-padded to multiples of 16 (exact: the extra weights and inputs are zero and
/// the extra outputs are dropped), in float32 when the input is bf16; every other case is the plain conv2d.
/// </summary>
public sealed class GuardedConv2d : Module<Tensor, Tensor>
{
    const int ChannelMultiple = 16;
    readonly long _stride;
    readonly long _padding;
    readonly long _inChannels, _outChannels;
    readonly bool _needsGuard;
    readonly Parameter weight;
    readonly Parameter? bias;

    public GuardedConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, bool hasBias = true)
        : base(nameof(GuardedConv2d))
    {
        _stride = stride;
        _padding = padding;
        _inChannels = inChannels;
        _outChannels = outChannels;
        _needsGuard = kernelSize > 1 && (inChannels % ChannelMultiple != 0 || outChannels % ChannelMultiple != 0);
        using (var init = Conv2d(inChannels, outChannels, kernelSize, stride, padding, bias: hasBias))
        {
            weight = Parameter(init.weight!.detach().clone());
            bias = hasBias ? Parameter(init.bias!.detach().clone()) : null;
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (!(_needsGuard && x.device_type == DeviceType.CPU))
            return functional.conv2d(x, weight, bias, [_stride, _stride], [_padding, _padding]);
        using var scope = NewDisposeScope();
        var dtype = x.dtype == ScalarType.BFloat16 ? ScalarType.Float32 : x.dtype;
        var extraIn = RoundUp(_inChannels) - _inChannels;
        var extraOut = RoundUp(_outChannels) - _outChannels;
        // pad takes (left, right) pairs from the last dimension backwards: channels are dim 1 of x, dims 0 and 1 of weight.
        var input = functional.pad(x.to_type(dtype), [0, 0, 0, 0, 0, extraIn]);
        var paddedWeight = functional.pad(weight.to_type(dtype), [0, 0, 0, 0, 0, extraIn, 0, extraOut]);
        var paddedBias = bias is null ? null : functional.pad(bias.to_type(dtype), [0, extraOut]);
        var output = functional.conv2d(input, paddedWeight, paddedBias, [_stride, _stride], [_padding, _padding])
            .narrow(1, 0, _outChannels);
        return output.to_type(x.dtype).MoveToOuterDisposeScope();
    }

    static long RoundUp(long channels) => (channels + ChannelMultiple - 1) / ChannelMultiple * ChannelMultiple;
}
