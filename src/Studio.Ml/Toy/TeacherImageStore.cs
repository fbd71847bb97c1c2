using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Studio.Ml.Diffusion;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Toy;

/// <summary>
/// The teacher's images of an evaluation, kept in a folder so that a student's evaluation compares with them instead
/// of drawing them again (which doubled its denoising): one file per <see cref="Key"/>, the 8-bit RGB colours
/// <see cref="RgbImage.MeanDifference"/> compares, so a stored image gives exactly the difference a drawn one gives.
/// A teacher's own evaluation fills the store, and so does the first student evaluation that has to draw them.
/// The <see cref="MaxEntries"/> most recently used keys are kept; a damaged or mismatched file is drawn again.
/// </summary>
public sealed class TeacherImageStore
{
    public const int MaxEntries = 16;
    const string ImagesTensor = "images";

    public string Folder { get; }

    /// <summary>A store in <paramref name="folder"/> (made when the first images are kept); refused when a file is there.</summary>
    public TeacherImageStore(string folder)
    {
        Folder = Path.GetFullPath(folder);
        if (File.Exists(Folder)) throw new ArgumentException($"{Folder}: a file, not a folder to keep the teacher's images in");
    }

    /// <summary>
    /// What decides the teacher's images of an evaluation: the evaluation's settings, the device type and dtype, the
    /// scheduler's config and a fingerprint of every weight of the pipeline's transformer, VAE, CLIP(s) and T5 slot (so a
    /// retrained teacher in the same folder, or another encoder in its T5 slot, is another key).
    /// </summary>
    public static string Key(ISlotPipeline pipeline, ToyEvaluationOptions options)
    {
        var parts = pipeline.WeightedParts;
        var text = new StringBuilder("teacher-images/1\n")
            .AppendLine(JsonSerializer.Serialize(options))
            .AppendLine(pipeline.Device.type.ToString())
            .AppendLine(parts[0].Module.parameters().First().dtype.ToString())
            .AppendLine(JsonSerializer.Serialize(pipeline.Scheduler.Config));
        foreach (var (part, module) in parts) text.Append(Fingerprint(part, module));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

    /// <summary>
    /// Each tensor's name, shape, sum and position-weighted sum (a permutation of its values changes it), computed on
    /// the module's device and read back once.
    /// </summary>
    static string Fingerprint(string part, nn.Module module)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var tensors = module.named_parameters().Select(p => (Name: p.name, Tensor: (Tensor)p.parameter))
            .Concat(module.named_buffers().Select(b => (Name: b.name, Tensor: b.buffer))).ToList();
        if (tensors.Count == 0) return $"{part}: empty\n";
        var sums = new List<Tensor>();
        foreach (var (_, t) in tensors)
        {
            var flat = t.detach().flatten().to(float64);
            sums.Add(flat.sum());
            sums.Add((flat * linspace(1, 2, flat.shape[0], dtype: float64, device: flat.device)).sum());
        }
        var values = stack(sums).cpu().data<double>().ToArray();
        var text = new StringBuilder();
        for (int i = 0; i < tensors.Count; i++)
            text.Append($"{part}.{tensors[i].Name} [{string.Join(",", tensors[i].Tensor.shape)}] {values[2 * i]:R} {values[2 * i + 1]:R}\n");
        return text.ToString();
    }

    string FileOf(string key) => Path.Combine(Folder, key + ".safetensors");

    /// <summary>
    /// The <paramref name="count"/> images of <paramref name="side"/> x <paramref name="side"/> pixels stored under
    /// <paramref name="key"/>, or null when there are none (or not that many or not that size, or the file is damaged).
    /// </summary>
    public IReadOnlyList<RgbImage>? Find(string key, int count, int side)
    {
        var path = FileOf(key);
        if (!File.Exists(path)) return null;
        try
        {
            byte[] rgb;
            using (var file = SafeTensorsFile.Open(path))
            {
                if (!file.Entries.TryGetValue(ImagesTensor, out var entry) || entry.DType != ScalarType.Byte
                    || !entry.Shape.SequenceEqual([count, side, side, 3L])) return null;
                using var images = file.Read(entry);
                rgb = images.data<byte>().ToArray();
            }
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
            var length = side * side * 3;
            return Enumerable.Range(0, count).Select(i => new RgbImage(side, side, rgb.AsSpan(i * length, length).ToArray())).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SafeTensorsFormatException)
        {
            return null;
        }
    }

    /// <summary>Stores <paramref name="images"/> under <paramref name="key"/> (atomically) and forgets all but the <see cref="MaxEntries"/> most recently used keys.</summary>
    public void Keep(string key, IReadOnlyList<RgbImage> images)
    {
        if (images.Count == 0 || images.Any(i => (i.Width, i.Height) != (images[0].Width, images[0].Height)))
            throw new ArgumentException("the teacher's images of one key are one or more images of one size", nameof(images));
        var rgb = images.SelectMany(i => i.Rgb).ToArray();
        using (var stacked = tensor(rgb, [images.Count, images[0].Height, images[0].Width, 3L], device: CPU))
            SafeTensorsWriter.Save(FileOf(key), [new(ImagesTensor, stacked)]);
        foreach (var old in new DirectoryInfo(Folder).GetFiles("*.safetensors").OrderByDescending(f => f.LastWriteTimeUtc).Skip(MaxEntries))
        {
            try { old.Delete(); }
            catch (IOException) { }
        }
    }
}
