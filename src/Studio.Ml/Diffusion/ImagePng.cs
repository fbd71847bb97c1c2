using System.Runtime.InteropServices;
using SkiaSharp;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>Turning a VAE's output into PNG files, as diffusers' `VaeImageProcessor.postprocess(output_type="pil")` does.</summary>
public static class ImagePng
{
    /// <summary>VAE output in [-1, 1] to [0, 1]: (x / 2 + 0.5) clamped, in float32.</summary>
    public static Tensor Denormalize(Tensor decoded)
    {
        using var scope = NewDisposeScope();
        return (decoded.to_type(ScalarType.Float32) / 2 + 0.5).clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>PNG bytes of one (3, H, W) image with values in [0, 1]; 8-bit values are round(x * 255) (<see cref="RgbImage.FromBatch"/>).</summary>
    public static byte[] Encode(Tensor image)
    {
        if (image.dim() != 3 || image.shape[0] != 3)
            throw new ArgumentException($"an image is (3, height, width), got [{string.Join(", ", image.shape)}]", nameof(image));
        RgbImage rgb;
        using (var batch = image.unsqueeze(0)) rgb = RgbImage.FromBatch(batch)[0];
        var rgba = new byte[rgb.Width * rgb.Height * 4];
        for (int p = 0; p < rgb.Width * rgb.Height; p++)
        {
            rgba[4 * p] = rgb.Rgb[3 * p];
            rgba[4 * p + 1] = rgb.Rgb[3 * p + 1];
            rgba[4 * p + 2] = rgb.Rgb[3 * p + 2];
            rgba[4 * p + 3] = 255;
        }
        using var bitmap = new SKBitmap(new SKImageInfo(rgb.Width, rgb.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Writes one (3, H, W) image in [0, 1] as a PNG, atomically.</summary>
    public static void Save(Tensor image, string path)
    {
        var png = Encode(image);
        AtomicFile.Write(path, stream => stream.Write(png));
    }
}
