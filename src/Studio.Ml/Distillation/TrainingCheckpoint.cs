using System.Security.Cryptography;
using System.Text.Json;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>Where training stands at a checkpoint: enough to continue bit for bit.</summary>
public sealed record TrainingState
{
    public required int Stage { get; init; }
    /// <summary>Updates done in the current stage.</summary>
    public required long StageUpdate { get; init; }
    /// <summary>Updates done over all stages.</summary>
    public required long GlobalStep { get; init; }
    /// <summary>Batches (trajectories) started in the current stage.</summary>
    public required long BatchIndex { get; init; }
    /// <summary>Next trajectory step of the current batch (0 = the batch is complete, draw a new one).</summary>
    public required int TrajectoryStep { get; init; }
    /// <summary>The data order position before the current batch was drawn (the batch is re-drawn from it).</summary>
    public required MixPosition BatchStartMix { get; init; }
    /// <summary>The data order position after the current batch.</summary>
    public required MixPosition Mix { get; init; }
    public required string ConfigYaml { get; init; }
    public DateTime Time { get; init; } = DateTime.UtcNow;
    public int FormatVersion { get; init; } = 1;
}

public sealed class CheckpointCorruptException(string path, string fault) : Exception($"{path}: {fault}");

/// <summary>
/// A training checkpoint is a folder `step-00001234/`: the student (DistillT5 layout, float32), the optimizer state,
/// the trajectory latents when the checkpoint falls mid-trajectory, state.json, and manifest.json (SHA-256 of each
/// file), written last. The folder is assembled under a temporary name and renamed into place, so a crash never
/// leaves a half-written checkpoint under a real name; a damaged one is detected by its manifest and refused.
/// </summary>
public static class TrainingCheckpoint
{
    public const string StudentFile = "student.safetensors";
    public const string OptimizerFile = "optimizer.bin";
    public const string TrajectoryFile = "trajectory.safetensors";
    public const string StateFile = "state.json";
    public const string ManifestFile = "manifest.json";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static string DirectoryName(long step) => $"step-{step:D8}";

    public static string Save(string checkpointsRoot, nn.Module student, TorchSharp.Modules.AdamW optimizer, TrainingState state, Tensor? trajectoryLatents)
    {
        Directory.CreateDirectory(checkpointsRoot);
        var final = Path.Combine(checkpointsRoot, DirectoryName(state.GlobalStep));
        var temp = Path.Combine(checkpointsRoot, $".tmp-{DirectoryName(state.GlobalStep)}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            SafeTensorsWriter.Save(Path.Combine(temp, StudentFile), student.state_dict().Select(kv => kv),
                new Dictionary<string, string> { ["format"] = "pt", ["step"] = state.GlobalStep.ToString() });
            using (var stream = File.Create(Path.Combine(temp, OptimizerFile)))
            using (var writer = new BinaryWriter(stream))
            {
                optimizer.save_state_dict(writer);
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            if (trajectoryLatents is not null)
                SafeTensorsWriter.Save(Path.Combine(temp, TrajectoryFile), [new("latents", trajectoryLatents)]);
            AtomicFile.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state, Json));
            var manifest = Directory.GetFiles(temp).Select(Path.GetFileName).OfType<string>()
                .ToDictionary(f => f, f => Sha256(Path.Combine(temp, f)));
            AtomicFile.WriteAllText(Path.Combine(temp, ManifestFile), JsonSerializer.Serialize(manifest, Json));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(temp, final);
            return final;
        }
        catch
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Checks the manifest and reads state.json; throws <see cref="CheckpointCorruptException"/> naming the bad file.</summary>
    public static TrainingState Verify(string checkpoint)
    {
        var manifestPath = Path.Combine(checkpoint, ManifestFile);
        if (!File.Exists(manifestPath)) throw new CheckpointCorruptException(checkpoint, "no manifest.json (incomplete checkpoint)");
        Dictionary<string, string> manifest;
        try { manifest = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(manifestPath)) ?? []; }
        catch (JsonException e) { throw new CheckpointCorruptException(manifestPath, $"unreadable manifest ({e.Message})"); }
        foreach (var required in new[] { StudentFile, OptimizerFile, StateFile })
            if (!manifest.ContainsKey(required)) throw new CheckpointCorruptException(checkpoint, $"manifest does not list {required}");
        foreach (var (file, hash) in manifest)
        {
            var path = Path.Combine(checkpoint, file);
            if (!File.Exists(path)) throw new CheckpointCorruptException(path, "missing");
            if (Sha256(path) != hash) throw new CheckpointCorruptException(path, "content does not match its SHA-256 in manifest.json (damaged or partial)");
        }
        try
        {
            return JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(Path.Combine(checkpoint, StateFile)))
                   ?? throw new CheckpointCorruptException(Path.Combine(checkpoint, StateFile), "empty");
        }
        catch (JsonException e) { throw new CheckpointCorruptException(Path.Combine(checkpoint, StateFile), $"unreadable ({e.Message})"); }
    }

    /// <summary>Loads weights and optimizer state into the given (freshly built) student and optimizer.</summary>
    public static (TrainingState State, Tensor? TrajectoryLatents) Load(string checkpoint, nn.Module student, TorchSharp.Modules.AdamW optimizer)
    {
        var state = Verify(checkpoint);
        using (var weights = Checkpoint.Open(Path.Combine(checkpoint, StudentFile)))
            ModuleLoader.Load(student, weights);
        using (var stream = File.OpenRead(Path.Combine(checkpoint, OptimizerFile)))
        using (var reader = new BinaryReader(stream))
            optimizer.load_state_dict(reader);
        Tensor? latents = null;
        var trajectory = Path.Combine(checkpoint, TrajectoryFile);
        if (File.Exists(trajectory))
        {
            using var file = SafeTensorsFile.Open(trajectory);
            latents = file.Read("latents");
        }
        return (state, latents);
    }

    /// <summary>Checkpoint folders of a run, newest first.</summary>
    public static IReadOnlyList<string> List(string checkpointsRoot) =>
        Directory.Exists(checkpointsRoot)
            ? Directory.GetDirectories(checkpointsRoot, "step-*").OrderByDescending(d => d, StringComparer.Ordinal).ToList()
            : [];

    /// <summary>The newest checkpoint that verifies; each rejected one is reported through <paramref name="rejected"/>.</summary>
    public static string? LatestGood(string checkpointsRoot, Action<string, string>? rejected = null)
    {
        foreach (var dir in List(checkpointsRoot))
        {
            try { Verify(dir); return dir; }
            catch (CheckpointCorruptException e) { rejected?.Invoke(dir, e.Message); }
        }
        return null;
    }

    /// <summary>Deletes all but the newest <paramref name="keep"/> checkpoints (0 keeps all) and stale temporaries.</summary>
    public static IReadOnlyList<string> Prune(string checkpointsRoot, int keep)
    {
        var removed = new List<string>();
        if (!Directory.Exists(checkpointsRoot)) return removed;
        if (keep > 0)
            foreach (var dir in List(checkpointsRoot).Skip(keep)) { Directory.Delete(dir, recursive: true); removed.Add(dir); }
        return removed;
    }

    static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
