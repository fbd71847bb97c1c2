using Studio.Ml.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

public class GuardedConv2dTests
{
    public GuardedConv2dTests() => TorchRuntime.Initialise();

    [Theory]
    [InlineData(3, 3, 1)]   // the VAE's conv_out: the case LibTorch's bf16 CPU kernel gets wrong
    [InlineData(8, 3, 1)]
    [InlineData(32, 3, 1)]  // a multiple of 16: the plain kernel
    [InlineData(24, 1, 0)]  // 1x1: the plain kernel
    public void Bf16AgreesWithFloat32WithinRounding(int outChannels, int kernel, int padding)
    {
        using var _ = no_grad();
        using var conv = new GuardedConv2d(32, outChannels, kernel, padding: padding);
        using var x = randn(2, 32, 8, 8, generator: new Generator(3));
        using var reference = conv.forward(x);
        conv.to(ScalarType.BFloat16);
        using var bf16 = conv.forward(x.to_type(ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, bf16.dtype);
        var relative = ((bf16.to_type(ScalarType.Float32) - reference).abs().max() / reference.abs().max()).item<float>();
        Assert.True(relative < 0.02, $"relative error {relative}");
    }

    [Fact]
    public void HasTheParameterNamesOfTorchConv2d()
    {
        using var conv = new GuardedConv2d(4, 3, 3, padding: 1);
        Assert.Equal(["weight", "bias"], conv.state_dict().Keys);
        Assert.Equal([3L, 4, 3, 3], conv.state_dict()["weight"].shape);
    }
}
