using SkiaSharp;
using TorchSharp;

namespace Studio.Ml.Toy;

/// <summary>A 64x64 RGB image as the models see it: float32, channels first [3, 64, 64], values in [-1, 1].</summary>
public sealed class ToyImage
{
    public const int Size = ToyRenderer.Size;
    public const int Plane = Size * Size;
    public const int Length = 3 * Plane;

    /// <summary>Channel-major values: Pixels[c * 4096 + y * 64 + x].</summary>
    public float[] Pixels { get; }

    public ToyImage(float[] pixels)
    {
        if (pixels.Length != Length)
            throw new ArgumentException($"a toy image has {Length} values (3x{Size}x{Size}), got {pixels.Length}", nameof(pixels));
        Pixels = pixels;
    }

    /// <summary>From 8-bit RGB, row-major with interleaved channels (the renderer's and PNG's layout).</summary>
    public static ToyImage FromRgb(ReadOnlySpan<byte> rgb)
    {
        if (rgb.Length != Length) throw new ArgumentException($"expected {Length} RGB bytes, got {rgb.Length}", nameof(rgb));
        var pixels = new float[Length];
        for (int i = 0; i < Plane; i++)
            for (int c = 0; c < 3; c++)
                pixels[c * Plane + i] = rgb[i * 3 + c] / 127.5f - 1f;
        return new ToyImage(pixels);
    }

    /// <summary>8-bit RGB, row-major with interleaved channels; values outside [-1, 1] are clamped.</summary>
    public byte[] ToRgb()
    {
        var rgb = new byte[Length];
        for (int i = 0; i < Plane; i++)
            for (int c = 0; c < 3; c++)
                rgb[i * 3 + c] = ToByte(Pixels[c * Plane + i]);
        return rgb;
    }

    static byte ToByte(float v) => (byte)Math.Clamp(MathF.Round((v + 1f) * 127.5f), 0f, 255f);

    /// <summary>The 8-bit colours a PNG of it holds, which <see cref="Diffusion.RgbImage.MeanDifference"/> compares.</summary>
    public Diffusion.RgbImage ToRgbImage() => new(Size, Size, ToRgb());

    /// <summary>From a [3, 64, 64] tensor of any floating dtype and device.</summary>
    public static ToyImage FromTensor(torch.Tensor image)
    {
        if (!image.shape.SequenceEqual([3L, Size, Size]))
            throw new ArgumentException($"a toy image tensor has shape [3, {Size}, {Size}], got [{string.Join(", ", image.shape)}]", nameof(image));
        using var cpu = image.detach().to(torch.float32).cpu().contiguous();
        return new ToyImage(cpu.data<float>().ToArray());
    }

    public torch.Tensor ToTensor() => torch.tensor(Pixels, [3, Size, Size]);

    /// <summary>Stacks images into one [N, 3, 64, 64] batch.</summary>
    public static torch.Tensor Stack(IReadOnlyList<ToyImage> images)
    {
        var all = new float[images.Count * Length];
        for (int i = 0; i < images.Count; i++) images[i].Pixels.CopyTo(all, i * Length);
        return torch.tensor(all, [images.Count, 3, Size, Size]);
    }

    /// <summary>Splits a [N, 3, 64, 64] batch into images.</summary>
    public static IReadOnlyList<ToyImage> Unstack(torch.Tensor batch)
    {
        if (batch.dim() != 4) throw new ArgumentException($"expected a [N, 3, {Size}, {Size}] batch, got [{string.Join(", ", batch.shape)}]", nameof(batch));
        return Enumerable.Range(0, (int)batch.shape[0]).Select(i => { using var one = batch[i]; return FromTensor(one); }).ToList();
    }

    /// <summary>Writes a PNG atomically (a temporary file in the same folder, then a rename).</summary>
    public void SavePng(string path)
    {
        var rgb = ToRgb();
        using var bitmap = new SKBitmap(new SKImageInfo(Size, Size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var colours = new SKColor[Plane];
        for (int i = 0; i < Plane; i++) colours[i] = new SKColor(rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]);
        bitmap.Pixels = colours;
        WriteAtomically(bitmap, path);
    }

    /// <summary>Writes the images side by side, <paramref name="columns"/> to a row, each enlarged
    /// <paramref name="scale"/> times with square pixels and a 2 px gap (a preview sheet), atomically. With
    /// <paramref name="captions"/> (one per image; a newline starts a new line), each tile has its caption under it,
    /// wrapped to the tile's width; every caption band is as tall as the longest caption.</summary>
    public static void SaveSheet(IReadOnlyList<ToyImage> images, string path, int columns = 8, int scale = 4, IReadOnlyList<string>? captions = null)
    {
        if (images.Count == 0) throw new ArgumentException("a sheet needs at least one image", nameof(images));
        if (captions is not null && captions.Count != images.Count)
            throw new ArgumentException($"a sheet of {images.Count} images needs {images.Count} captions, got {captions.Count}", nameof(captions));
        using var typeface = captions is null ? null : ToyCaptions.Typeface();
        using var font = typeface is null ? null : new SKFont(typeface, ToyCaptions.TextSize);
        int side = Size * scale, tile = side + 2;
        var wrapped = captions?.Select(c => ToyCaptions.Wrap(c, font!, side)).ToList();
        int band = wrapped is null ? 0 : wrapped.Max(lines => lines.Count) * ToyCaptions.LineHeight(font!) + 4;
        int rows = (images.Count + columns - 1) / columns, cellHeight = tile + band;
        using var bitmap = new SKBitmap(new SKImageInfo(Math.Min(columns, images.Count) * tile, rows * cellHeight, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var colours = new SKColor[bitmap.Width * bitmap.Height];
        Array.Fill(colours, SKColors.White);
        for (int k = 0; k < images.Count; k++)
        {
            var rgb = images[k].ToRgb();
            int left = k % columns * tile, top = k / columns * cellHeight;
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++)
                {
                    int i = (y / scale * Size + x / scale) * 3;
                    colours[(top + y) * bitmap.Width + left + x] = new SKColor(rgb[i], rgb[i + 1], rgb[i + 2]);
                }
        }
        bitmap.Pixels = colours;
        if (wrapped is not null)
        {
            using var canvas = new SKCanvas(bitmap);
            for (int k = 0; k < images.Count; k++)
                ToyCaptions.Draw(canvas, wrapped[k], k % columns * tile, k / columns * cellHeight + side + 2, font!);
        }
        WriteAtomically(bitmap, path);
    }

    static void WriteAtomically(SKBitmap bitmap, string path)
    {
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        var full = Path.GetFullPath(path);
        var temp = full + ".tmp";
        using (var stream = File.Create(temp)) data.SaveTo(stream);
        File.Move(temp, full, overwrite: true);
    }

    public static ToyImage LoadPng(string path)
    {
        using var bitmap = SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path}: not a readable image");
        if (bitmap.Width != Size || bitmap.Height != Size)
            throw new InvalidDataException($"{path}: is {bitmap.Width}x{bitmap.Height}, a toy image is {Size}x{Size}");
        var colours = bitmap.Pixels;
        var rgb = new byte[Length];
        for (int i = 0; i < Plane; i++)
        {
            rgb[i * 3] = colours[i].Red;
            rgb[i * 3 + 1] = colours[i].Green;
            rgb[i * 3 + 2] = colours[i].Blue;
        }
        return FromRgb(rgb);
    }
}
