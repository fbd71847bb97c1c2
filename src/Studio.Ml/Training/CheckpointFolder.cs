using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Studio.Ml.Tensors;
using AdamWOptimizer = TorchSharp.Modules.AdamW;

namespace Studio.Ml.Training;

public sealed class CheckpointCorruptException(string path, string fault) : Exception($"{path}: {fault}");

/// <summary>
/// The checkpoint I/O of both trainers (the distiller's <c>TrainingCheckpoint</c>, the toy pretraining's stages). A
/// checkpoint is a folder. <see cref="Write"/> assembles its files in a temporary sibling, lists them with their SHA-256
/// in manifest.json (written last), then renames the folder into place; a folder it replaces is first moved aside to
/// `.old-NAME` and deleted afterwards, so a crash never leaves a half-written checkpoint under a real name and
/// <see cref="Existing"/> still finds the previous one. <see cref="Verify"/> refuses a folder whose manifest is missing
/// or does not match, naming the bad file.
/// </summary>
public static class CheckpointFolder
{
    public const string OptimizerFile = "optimizer.bin";
    public const string StateFile = "state.json";
    public const string ManifestFile = "manifest.json";

    /// <summary>The JSON of checkpoint files: a non-finite number (a diverged loss) is written as "NaN" or "Infinity", not refused.</summary>
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Writes the checkpoint <paramref name="folder"/>: <paramref name="write"/> fills the temporary folder it is given.</summary>
    public static string Write(string folder, Action<string> write)
    {
        var full = Path.GetFullPath(folder);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".tmp-{Path.GetFileName(full)}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            write(temp);
            var manifest = Directory.GetFiles(temp).Select(Path.GetFileName).OfType<string>()
                .ToDictionary(f => f, f => Sha256(Path.Combine(temp, f)));
            AtomicFile.WriteAllText(Path.Combine(temp, ManifestFile), JsonSerializer.Serialize(manifest, Json));
            var old = OldPath(full);
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            if (Directory.Exists(full)) Directory.Move(full, old);
            Directory.Move(temp, full);
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            return folder;
        }
        catch
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>
    /// The checkpoint written as <paramref name="folder"/>: the folder itself, or the previous one that a replacement
    /// interrupted between its two renames left aside; null when there is neither.
    /// </summary>
    public static string? Existing(string folder) =>
        new[] { folder, OldPath(Path.GetFullPath(folder)) }.FirstOrDefault(f => File.Exists(Path.Combine(f, ManifestFile)));

    /// <summary>Checks every file against manifest.json and that <paramref name="required"/> files are listed; throws <see cref="CheckpointCorruptException"/> naming the bad file.</summary>
    public static void Verify(string folder, params string[] required)
    {
        var manifestPath = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifestPath)) throw new CheckpointCorruptException(folder, "no manifest.json (incomplete checkpoint)");
        Dictionary<string, string> manifest;
        try { manifest = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(manifestPath)) ?? []; }
        catch (JsonException e) { throw new CheckpointCorruptException(manifestPath, $"unreadable manifest ({e.Message})"); }
        foreach (var file in required)
            if (!manifest.ContainsKey(file)) throw new CheckpointCorruptException(folder, $"manifest does not list {file}");
        foreach (var (file, hash) in manifest)
        {
            var path = Path.Combine(folder, file);
            if (!File.Exists(path)) throw new CheckpointCorruptException(path, "missing");
            if (Sha256(path) != hash) throw new CheckpointCorruptException(path, "content does not match its SHA-256 in manifest.json (damaged or partial)");
        }
    }

    /// <summary>Writes state.json into <paramref name="folder"/> (NaN and infinities as named literals).</summary>
    public static void SaveState<T>(string folder, T state) =>
        AtomicFile.WriteAllText(Path.Combine(folder, StateFile), JsonSerializer.Serialize(state, Json));

    public static T ReadState<T>(string folder)
    {
        var path = Path.Combine(folder, StateFile);
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json) ?? throw new CheckpointCorruptException(path, "empty"); }
        catch (JsonException e) { throw new CheckpointCorruptException(path, $"unreadable ({e.Message})"); }
    }

    /// <summary>Writes the optimizer's state (TorchSharp's format) to optimizer.bin in <paramref name="folder"/>, flushed to disk.</summary>
    public static void SaveOptimizer(string folder, AdamWOptimizer optimizer)
    {
        using var stream = File.Create(Path.Combine(folder, OptimizerFile));
        using var writer = new BinaryWriter(stream);
        optimizer.save_state_dict(writer);
        writer.Flush();
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Loads optimizer.bin of <paramref name="folder"/> into a freshly built optimizer over the same parameters.</summary>
    public static void LoadOptimizer(string folder, AdamWOptimizer optimizer)
    {
        using var stream = File.OpenRead(Path.Combine(folder, OptimizerFile));
        using var reader = new BinaryReader(stream);
        optimizer.load_state_dict(reader);
    }

    static string OldPath(string folder) => Path.Combine(Path.GetDirectoryName(folder)!, $".old-{Path.GetFileName(folder)}");

    static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
