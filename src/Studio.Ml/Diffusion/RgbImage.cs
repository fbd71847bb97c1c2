using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>
/// An image as the 8-bit colours a PNG of it holds: RGB, row-major with interleaved channels. What a student's image is
/// compared with the teacher's on (<see cref="MeanDifference"/>, as the Generate page measures two PNGs).
/// </summary>
public sealed record RgbImage(int Width, int Height, byte[] Rgb)
{
    /// <summary>Splits a (N, 3, H, W) batch with values in [0, 1] (a pipeline's output) into images: round(x * 255), as <see cref="ImagePng.Encode"/>.</summary>
    public static IReadOnlyList<RgbImage> FromBatch(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"expected a (N, 3, height, width) batch, got [{string.Join(", ", images.shape)}]", nameof(images));
        var (count, height, width) = ((int)images.shape[0], (int)images.shape[2], (int)images.shape[3]);
        byte[] all;
        using (NewDisposeScope())
            all = (images.to_type(ScalarType.Float32).cpu() * 255).round().clamp(0, 255).to_type(ScalarType.Byte)
                .permute(0, 2, 3, 1).contiguous().data<byte>().ToArray();
        var length = height * width * 3;
        return Enumerable.Range(0, count).Select(i => new RgbImage(width, height, all.AsSpan(i * length, length).ToArray())).ToList();
    }

    /// <summary>Mean |this - other| over pixels and RGB channels, in 0-255 units.</summary>
    public double MeanDifference(RgbImage other)
    {
        if ((other.Width, other.Height) != (Width, Height))
            throw new ArgumentException($"a {other.Width}x{other.Height} image cannot be compared with a {Width}x{Height} one", nameof(other));
        long sum = 0;
        for (int i = 0; i < Rgb.Length; i++) sum += Math.Abs(Rgb[i] - other.Rgb[i]);
        return (double)sum / Rgb.Length;
    }
}
