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

    /// <summary>The 8-bit RGB colours of a PNG (or any image SkiaSharp reads); its alpha is dropped.</summary>
    public static RgbImage FromPng(string path)
    {
        using var bitmap = SkiaSharp.SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path} is not a readable image");
        var rgb = new byte[bitmap.Width * bitmap.Height * 3];
        for (int y = 0, i = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++, i += 3)
            {
                var pixel = bitmap.GetPixel(x, y);
                (rgb[i], rgb[i + 1], rgb[i + 2]) = (pixel.Red, pixel.Green, pixel.Blue);
            }
        return new RgbImage(bitmap.Width, bitmap.Height, rgb);
    }

    /// <summary>Writes the image as an 8-bit RGB PNG, atomically (what <see cref="FromPng"/> reads back unchanged).</summary>
    public void SavePng(string path)
    {
        using var bitmap = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(Width, Height, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Opaque));
        for (int y = 0, i = 0; y < Height; y++)
            for (int x = 0; x < Width; x++, i += 3)
                bitmap.SetPixel(x, y, new SkiaSharp.SKColor(Rgb[i], Rgb[i + 1], Rgb[i + 2]));
        using var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        Tensors.AtomicFile.Write(path, stream => data.SaveTo(stream));
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
        const int radius = 5, window = 2 * radius + 1; // scipy's truncate 3.5 at sigma 1.5
        if (Width < window || Height < window)
            throw new ArgumentException($"a {Width}x{Height} image is smaller than SSIM's 11x11 window", nameof(other));
        var weights = new double[window];
        for (int i = 0; i < window; i++) weights[i] = Math.Exp(-(i - radius) * (i - radius) / (2 * 1.5 * 1.5));
        var total = weights.Sum();
        for (int i = 0; i < window; i++) weights[i] /= total;

        var (rows, columns) = (Height - 2 * radius, Width - 2 * radius);
        // The Gaussian-weighted mean of f around every position whose window lies inside the image (rows, then columns).
        var vertical = new double[rows * Width];
        double[] Filter(double[] f)
        {
            Array.Clear(vertical);
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < window; i++)
                    AddScaled(vertical.AsSpan(r * Width, Width), f.AsSpan((r + i) * Width, Width), weights[i]);
            var filtered = new double[rows * columns];
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < window; i++)
                    AddScaled(filtered.AsSpan(r * columns, columns), vertical.AsSpan(r * Width + i, columns), weights[i]);
            return filtered;
        }

        const double c1 = 0.01 * 255 * 0.01 * 255, c2 = 0.03 * 255 * 0.03 * 255;
        double ssim = 0;
        for (int channel = 0; channel < 3; channel++)
        {
            var (x, y) = (new double[Width * Height], new double[Width * Height]);
            var (xx, yy, xy) = (new double[Width * Height], new double[Width * Height], new double[Width * Height]);
            for (int p = 0; p < x.Length; p++)
            {
                (x[p], y[p]) = (Rgb[p * 3 + channel], other.Rgb[p * 3 + channel]);
                (xx[p], yy[p], xy[p]) = (x[p] * x[p], y[p] * y[p], x[p] * y[p]);
            }
            var (ux, uy, uxx, uyy, uxy) = (Filter(x), Filter(y), Filter(xx), Filter(yy), Filter(xy));
            for (int i = 0; i < ux.Length; i++)
            {
                var (vx, vy, vxy) = (uxx[i] - ux[i] * ux[i], uyy[i] - uy[i] * uy[i], uxy[i] - ux[i] * uy[i]);
                ssim += (2 * ux[i] * uy[i] + c1) * (2 * vxy + c2) / ((ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2));
            }
        }
        return ssim / (3.0 * rows * columns);
    }

    /// <summary>to[k] += weight * from[k] for every k (SIMD where the machine has it).</summary>
    static void AddScaled(Span<double> to, ReadOnlySpan<double> from, double weight)
    {
        int k = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var w = new System.Numerics.Vector<double>(weight);
            var width = System.Numerics.Vector<double>.Count;
            for (; k <= to.Length - width; k += width)
                (new System.Numerics.Vector<double>(to[k..]) + w * new System.Numerics.Vector<double>(from[k..])).CopyTo(to[k..]);
        }
        for (; k < to.Length; k++) to[k] += weight * from[k];
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
