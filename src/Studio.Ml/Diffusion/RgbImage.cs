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

    /// <summary>
    /// The structural similarity (SSIM, Wang et al. 2004) of this image to <paramref name="other"/>, as
    /// scikit-image's structural_similarity computes it with gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False, data_range=255 and the channels averaged: an 11x11 Gaussian window, K1 = 0.01,
    /// K2 = 0.03, the mean over every position whose window lies inside the image. 1 for equal images; structure
    /// (edges, shapes, text) counts where <see cref="MeanDifference"/> counts every colour shift alike.
    /// </summary>
    public double StructuralSimilarity(RgbImage other)
    {
        if ((other.Width, other.Height) != (Width, Height))
            throw new ArgumentException($"a {other.Width}x{other.Height} image cannot be compared with a {Width}x{Height} one", nameof(other));
        const int radius = 5; // scipy's truncate 3.5 at sigma 1.5
        if (Width <= 2 * radius || Height <= 2 * radius)
            throw new ArgumentException($"a {Width}x{Height} image is smaller than SSIM's 11x11 window", nameof(other));
        using var scope = NewDisposeScope();
        var offsets = arange(-radius, radius + 1, dtype: ScalarType.Float64, device: CPU);
        var weights = (offsets.square() / (-2 * 1.5 * 1.5)).exp();
        weights /= weights.sum();
        var rows = weights.reshape(1, 1, 2 * radius + 1, 1);
        var columns = weights.reshape(1, 1, 1, 2 * radius + 1);
        // Each channel a separate image: (3, 1, H, W), filtered without padding (only windows inside the image).
        Tensor Channels(byte[] rgb) => tensor(rgb, dtype: ScalarType.Byte, device: CPU).reshape(Height, Width, 3)
            .permute(2, 0, 1).unsqueeze(1).to_type(ScalarType.Float64);
        Tensor Filter(Tensor t) => nn.functional.conv2d(nn.functional.conv2d(t, rows), columns);
        var (x, y) = (Channels(Rgb), Channels(other.Rgb));
        var (ux, uy) = (Filter(x), Filter(y));
        var vx = Filter(x * x) - ux * ux;
        var vy = Filter(y * y) - uy * uy;
        var vxy = Filter(x * y) - ux * uy;
        const double c1 = 0.01 * 255 * 0.01 * 255, c2 = 0.03 * 255 * 0.03 * 255;
        var map = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
        return map.mean().item<double>();
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
