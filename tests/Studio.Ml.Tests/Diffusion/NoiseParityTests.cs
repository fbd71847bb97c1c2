using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

/// <summary>
/// A seed must give the noise PyTorch gives (diffusers draws with `torch.Generator("cpu").manual_seed(seed)`), or the
/// same seed would not give the same image as diffusers. The expected values are PyTorch's own outputs, as printed in
/// its documentation and tutorials for `torch.manual_seed(0)`: the vectorised path (16 elements or more) and the serial one.
/// </summary>
public class NoiseParityTests
{
    public NoiseParityTests() => TorchRuntime.Initialise();

    [Fact]
    public void Seed0Randn4x4IsPyTorchs()
    {
        float[] pytorch =
        [
            -1.1258f, -1.1524f, -0.2506f, -0.4339f,
            0.8487f, 0.6920f, -0.3160f, -2.1152f,
            0.3223f, -1.2633f, 0.3500f, 0.3081f,
            0.1198f, 1.2377f, 1.1168f, -0.2473f,
        ];
        using var noise = randn([4, 4], generator: new Generator(0, CPU));
        AssertClose(pytorch, noise.data<float>().ToArray());
    }

    [Fact]
    public void Seed0Randn2x3IsPyTorchs()
    {
        float[] pytorch = [1.5410f, -0.2934f, -2.1788f, 0.5684f, -1.0845f, -1.3986f];
        using var noise = randn([2, 3], generator: new Generator(0, CPU));
        AssertClose(pytorch, noise.data<float>().ToArray());
    }

    static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) < 6e-5, $"element {i}: PyTorch {expected[i]}, here {actual[i]}");
    }
}
