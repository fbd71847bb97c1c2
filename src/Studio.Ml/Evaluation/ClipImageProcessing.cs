using System.Text.Json;
using Studio.Ml.Diffusion;
using Studio.Ml.Models.Clip;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Studio.Ml.Evaluation;

/// <summary>
/// What transformers' `CLIPImageProcessor` does to an image before the vision tower: the shorter side resized to
/// <see cref="ShortestEdge"/> as PIL's bicubic resize does it (the width, then the height, each pass rounded to 8 bits;
/// each pass here is LibTorch's antialiased bicubic, PIL's filter), the centre <see cref="CropHeight"/> x
/// <see cref="CropWidth"/> cut out, values / 255, then (x - mean) / std per channel. Read from the folder's preprocessor_config.json; without one, OpenAI CLIP's
/// values at the vision tower's image size.
/// </summary>
public sealed record ClipImageProcessing(int ShortestEdge, int CropHeight, int CropWidth, double[] Mean, double[] Std)
{
    public static readonly double[] OpenAiMean = [0.48145466, 0.4578275, 0.40821073];
    public static readonly double[] OpenAiStd = [0.26862954, 0.26130258, 0.27577711];

    public static ClipImageProcessing For(string folder, ClipVisionConfig vision)
    {
        var path = Path.Combine(folder, "preprocessor_config.json");
        var side = vision.ImageSize;
        if (!File.Exists(path)) return new(side, side, side, OpenAiMean, OpenAiStd);
        using var doc = Text.TokenizerFiles.ReadJson(path);
        var root = doc.RootElement;
        int Side(JsonElement e, params string[] keys) => e.ValueKind switch
        {
            JsonValueKind.Number when e.TryGetInt32(out var n) && n > 0 => n,
            JsonValueKind.Object when keys.Select(k => e.TryGetProperty(k, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n > 0 ? n : (int?)null).FirstOrDefault(n => n is not null) is { } n => n,
            _ => throw new InvalidDataException($"{path}: '{e.GetRawText()}' is not a size in pixels ({string.Join(" or ", keys)})"),
        };
        var shortest = root.TryGetProperty("size", out var size) ? Side(size, "shortest_edge", "height") : side;
        int cropHeight = side, cropWidth = side;
        if (root.TryGetProperty("crop_size", out var crop))
            (cropHeight, cropWidth) = crop.ValueKind == JsonValueKind.Object
                ? (Side(crop, "height"), Side(crop, "width"))
                : (Side(crop), Side(crop));
        double[] Triple(string key, double[] fallback)
        {
            if (!root.TryGetProperty(key, out var e)) return fallback;
            var values = e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) ? d : double.NaN).ToArray() : [];
            return values.Length == 3 && values.All(double.IsFinite) ? values
                : throw new InvalidDataException($"{path}: field '{key}' must be three numbers, found {e.GetRawText()}");
        }
        var std = Triple("image_std", OpenAiStd);
        if (std.Any(s => s <= 0)) throw new InvalidDataException($"{path}: field 'image_std' must be positive, found [{string.Join(", ", std)}]");
        if (cropHeight > shortest || cropWidth > shortest)
            throw new InvalidDataException($"{path}: crop_size ({cropHeight} x {cropWidth}) is larger than the resized shorter side ({shortest})");
        return new(shortest, cropHeight, cropWidth, Triple("image_mean", OpenAiMean), std);
    }

    /// <summary>The vision tower's input for each image: [images, 3, crop height, crop width], float32 on <paramref name="device"/>.</summary>
    public Tensor PixelValues(IReadOnlyList<RgbImage> images, Device device)
    {
        using var scope = NewDisposeScope();
        var rows = new List<Tensor>();
        foreach (var image in images)
        {
            var x = torch.tensor(image.Rgb, [image.Height, image.Width, 3], device: device)
                .permute(2, 0, 1).unsqueeze(0).to_type(ScalarType.Float32);
            var (height, width) = Resized(image.Height, image.Width);
            if (width != image.Width) x = ResizedTo8Bits(x, image.Height, width);
            if (height != image.Height) x = ResizedTo8Bits(x, height, width);
            int top = (height - CropHeight) / 2, left = (width - CropWidth) / 2;
            rows.Add(x[.., .., top..(top + CropHeight), left..(left + CropWidth)]);
        }
        var mean = torch.tensor(Mean, dtype: ScalarType.Float32, device: device).view(1, 3, 1, 1);
        var std = torch.tensor(Std, dtype: ScalarType.Float32, device: device).view(1, 3, 1, 1);
        return ((torch.cat(rows, 0) / 255 - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>One pass of PIL's resize: its bicubic filter, the result rounded half up and clipped to 0-255 (PIL's 8-bit images).</summary>
    static Tensor ResizedTo8Bits(Tensor x, int height, int width) =>
        F.interpolate(x, [height, width], mode: InterpolationMode.Bicubic, align_corners: false, antialias: true).add_(0.5).floor_().clamp_(0, 255);

    /// <summary>The size after the resize: the shorter side <see cref="ShortestEdge"/>, the longer one scaled and rounded down (as transformers does).</summary>
    public (int Height, int Width) Resized(int height, int width) => height <= width
        ? (ShortestEdge, (int)((long)ShortestEdge * width / height))
        : ((int)((long)ShortestEdge * height / width), ShortestEdge);
}
