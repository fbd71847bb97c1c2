using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>The images (B, 3, H, W) in [0, 1], float32 on the CPU, and the time each stage took.</summary>
public sealed record GeneratedImages(Tensor Images, IReadOnlyList<(string Stage, TimeSpan Time)> Timings) : IDisposable
{
    public int Count => (int)Images.shape[0];

    public byte[] Png(int index)
    {
        using var image = Images[index];
        return ImagePng.Encode(image);
    }

    public void Dispose() => Images.Dispose();
}
