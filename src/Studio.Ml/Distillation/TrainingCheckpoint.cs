using System.Text.Json;
using Studio.Ml.Tensors;
using Studio.Ml.Training;
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

/// <summary>
/// A training checkpoint is a <see cref="CheckpointFolder"/> `step-00001234/`: the student (DistillT5 layout, float32),
/// the optimizer state, the trajectory latents when the checkpoint falls mid-trajectory, state.json, and manifest.json
/// (SHA-256 of each file). A damaged one is detected by its manifest and refused.
/// </summary>
public static class TrainingCheckpoint
{
    public const string StudentFile = "student.safetensors";
    /// <summary>With optimizer.ema, the live weights training goes on from (the student file then holds the average).</summary>
    public const string TrainingWeightsFile = "student-training.safetensors";
    public const string OptimizerFile = CheckpointFolder.OptimizerFile;
    public const string TrajectoryFile = "trajectory.safetensors";
    public const string StateFile = CheckpointFolder.StateFile;
    public const string ManifestFile = CheckpointFolder.ManifestFile;

    public static string DirectoryName(long step) => $"step-{step:D8}";

    /// <summary>
    /// Writes a checkpoint. With an <paramref name="average"/> (optimizer.ema) the student file holds the averaged
    /// weights, which export, Generate and evaluation load, and the live weights go to <see cref="TrainingWeightsFile"/>.
    /// </summary>
    public static string Save(string checkpointsRoot, nn.Module student, TorchSharp.Modules.AdamW optimizer, TrainingState state, Tensor? trajectoryLatents,
        ExponentialMovingAverage? average = null) =>
        CheckpointFolder.Write(Path.Combine(checkpointsRoot, DirectoryName(state.GlobalStep)), folder =>
        {
            var metadata = new Dictionary<string, string> { ["format"] = "pt", ["step"] = state.GlobalStep.ToString() };
            if (average is not null)
            {
                SafeTensorsWriter.Save(Path.Combine(folder, TrainingWeightsFile), student.state_dict().Select(kv => kv), metadata);
                metadata["ema"] = average.Decay.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            }
            SafeTensorsWriter.Save(Path.Combine(folder, StudentFile), average?.StateDict(student) ?? student.state_dict().Select(kv => kv), metadata);
            CheckpointFolder.SaveOptimizer(folder, optimizer);
            if (trajectoryLatents is not null)
                SafeTensorsWriter.Save(Path.Combine(folder, TrajectoryFile), [new("latents", trajectoryLatents)]);
            CheckpointFolder.SaveState(folder, state);
        });

    /// <summary>Checks the manifest and reads state.json; throws <see cref="CheckpointCorruptException"/> naming the bad file.</summary>
    public static TrainingState Verify(string checkpoint)
    {
        CheckpointFolder.Verify(checkpoint, StudentFile, OptimizerFile, StateFile);
        return CheckpointFolder.ReadState<TrainingState>(checkpoint);
    }

    /// <summary>
    /// Loads weights and optimizer state into the given (freshly built) student and optimizer, and the
    /// <paramref name="average"/>'s weights when given: from the checkpoint's average, or (made without one) the weights.
    /// </summary>
    public static (TrainingState State, Tensor? TrajectoryLatents) Load(string checkpoint, nn.Module student, TorchSharp.Modules.AdamW optimizer,
        ExponentialMovingAverage? average = null)
    {
        var state = Verify(checkpoint);
        var training = Path.Combine(checkpoint, TrainingWeightsFile);
        using (var weights = Checkpoint.Open(File.Exists(training) ? training : Path.Combine(checkpoint, StudentFile)))
            ModuleLoader.Load(student, weights);
        if (average is not null && File.Exists(training))
        {
            using var averaged = Checkpoint.Open(Path.Combine(checkpoint, StudentFile));
            average.Load(averaged);
        }
        else average?.Reset();
        CheckpointFolder.LoadOptimizer(checkpoint, optimizer);
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

    /// <summary>
    /// Deletes all but the newest <paramref name="keep"/> checkpoints (0 keeps all), except <paramref name="protect"/>
    /// (the best one, with checkpoints.keep_best) and those <paramref name="held"/> says are still needed (an evaluation
    /// of them waiting: a later prune deletes them once they are not); returns what it deleted. A folder that another
    /// pruner deleted first is not reported.
    /// </summary>
    public static IReadOnlyList<string> Prune(string checkpointsRoot, int keep, string? protect = null, Func<string, bool>? held = null)
    {
        var removed = new List<string>();
        if (!Directory.Exists(checkpointsRoot)) return removed;
        if (keep > 0)
            foreach (var dir in List(checkpointsRoot).Skip(keep).Where(d => d != protect && held?.Invoke(d) != true))
            {
                try { Directory.Delete(dir, recursive: true); }
                catch (DirectoryNotFoundException) { continue; }
                removed.Add(dir);
            }
        return removed;
    }

    /// <summary>The held-out vision loss of validated checkpoints, by folder name, beside them (checkpoints.keep_best).</summary>
    public const string ScoresFile = "scores.json";

    public static Dictionary<string, double> Scores(string checkpointsRoot)
    {
        var path = Path.Combine(checkpointsRoot, ScoresFile);
        if (!File.Exists(path)) return [];
        try { return JsonSerializer.Deserialize<Dictionary<string, double>>(File.ReadAllText(path), CheckpointFolder.Json) ?? []; }
        catch (JsonException) { return []; } // a damaged score file only forgets which checkpoint was best
    }

    /// <summary>Records a checkpoint's held-out loss (written atomically; scores of checkpoints that are gone are dropped).</summary>
    public static void RecordScore(string checkpoint, double score)
    {
        var root = Path.GetDirectoryName(checkpoint)!;
        var scores = Scores(root);
        scores[Path.GetFileName(checkpoint)] = score;
        var kept = scores.Where(s => Directory.Exists(Path.Combine(root, s.Key))).ToDictionary();
        AtomicFile.WriteAllText(Path.Combine(root, ScoresFile), JsonSerializer.Serialize(kept, CheckpointFolder.Json));
    }

    /// <summary>The existing checkpoint with the lowest recorded score; null when none has one.</summary>
    public static string? Best(string checkpointsRoot) =>
        Scores(checkpointsRoot).Where(s => double.IsFinite(s.Value) && Directory.Exists(Path.Combine(checkpointsRoot, s.Key)))
            .OrderBy(s => s.Value).Select(s => Path.Combine(checkpointsRoot, s.Key)).FirstOrDefault();
}
