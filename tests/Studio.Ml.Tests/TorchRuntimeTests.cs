using TorchSharp;

namespace Studio.Ml.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void LibTorchLoadsAndComputes()
    {
        TorchRuntime.Initialise();
        using var a = torch.tensor(new float[] { 1, 2, 3 });
        using var b = (a * a).sum();
        Assert.Equal(14f, b.item<float>());
        Assert.Contains("LibTorch", TorchRuntime.Describe());
    }

    /// <summary>LibTorch's default lets cuDNN use TF32 for float32 convolutions; the studio's float32 is IEEE everywhere.</summary>
    [Fact]
    public void Float32MeansIeeeFloat32OnGpusToo()
    {
        TorchRuntime.Initialise();
        Assert.False(torch.backends.cudnn.allow_tf32);
        Assert.False(torch.backends.cuda.matmul.allow_tf32);
    }
}
