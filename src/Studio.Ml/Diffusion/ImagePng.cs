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

    /// <summary>PNG bytes of one (3, H, W) image with values in [0, 1]; 8-bit values are round(x * 255).</summary>
    public static byte[] Encode(Tensor image)
    {
        if (image.dim() != 3 || image.shape[0] != 3)
            throw new ArgumentException($"an image is (3, height, width), got [{string.Join(", ", image.shape)}]", nameof(image));
        var (height, width) = ((int)image.shape[1], (int)image.shape[2]);
        byte[] rgba;
        using (var scope = NewDisposeScope())
        {
            var bytes = (image.to_type(ScalarType.Float32).cpu() * 255).round().clamp(0, 255).to_type(ScalarType.Byte);
            var opaque = full(1, height, width, 255, dtype: ScalarType.Byte, device: CPU);
            rgba = cat([bytes, opaque], 0).permute(1, 2, 0).contiguous().data<byte>().ToArray();
        }
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
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
