using System.Text.Json;
using Studio.Ml.Tensors;
using Studio.Ml.Training;

namespace Studio.Ml.Distillation;

/// <summary>
/// A run's held-out vision losses (the mean over categories, as keep_best scores checkpoints) and validation.patience:
/// a run stops when that loss has not gone below its best for <c>patience</c> validations in a row (0: never). Every
/// validation's loss is kept in checkpoints/held-out.json (written atomically), so a run resumed from a checkpoint
/// counts from the validations up to that checkpoint's step, as if it had never stopped.
/// </summary>
public sealed class EarlyStopping
{
    public const string HistoryFile = "held-out.json";

    readonly string _path;
    readonly int _patience;
    readonly List<HeldOut> _history;

    /// <summary>One validation: its step and its held-out vision loss.</summary>
    public sealed record HeldOut(long Step, double Loss);

    /// <summary>The history of <paramref name="checkpointsRoot"/> up to <paramref name="resumedAt"/> (0 for a fresh run).</summary>
    public EarlyStopping(string checkpointsRoot, int patience, long resumedAt)
    {
        _path = Path.Combine(checkpointsRoot, HistoryFile);
        _patience = patience;
        _history = History(checkpointsRoot).Where(h => h.Step <= resumedAt).ToList();
    }

    /// <summary>The validations recorded in <paramref name="checkpointsRoot"/>, in step order; a damaged file forgets them.</summary>
    public static List<HeldOut> History(string checkpointsRoot)
    {
        var path = Path.Combine(checkpointsRoot, HistoryFile);
        if (!File.Exists(path)) return [];
        try { return (JsonSerializer.Deserialize<List<HeldOut>>(File.ReadAllText(path), CheckpointFolder.Json) ?? []).OrderBy(h => h.Step).ToList(); }
        catch (JsonException) { return []; }
    }

    /// <summary>How many validations the run has had (those before the step it resumed at included).</summary>
    public int Count => _history.Count;

    /// <summary>The lowest finite held-out loss so far (the first validation that reached it); null before any.</summary>
    public HeldOut? Best => _history.Where(h => double.IsFinite(h.Loss)).Aggregate((HeldOut?)null, (a, b) => a is null || b.Loss < a.Loss ? b : a);

    /// <summary>
    /// Records the validation at <paramref name="step"/>; returns why the run stops now, or null while it improves (or
    /// while fewer than <c>patience</c> validations followed its best, or always with patience 0).
    /// </summary>
    public string? Record(long step, double loss)
    {
        _history.RemoveAll(h => h.Step >= step);
        _history.Add(new HeldOut(step, loss));
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        AtomicFile.WriteAllText(_path, JsonSerializer.Serialize(_history, CheckpointFolder.Json));
        // The first validation at the lowest loss is the best; a later one only counts as better when it is lower.
        if (_patience < 1 || Best is not { } best) return null;
        var since = _history.Count(h => h.Step > best.Step);
        return since >= _patience
            ? $"stopped early at step {step:N0}: the held-out vision loss ({loss:G4}) has not gone below its best ({best.Loss:G4} at step {best.Step:N0}) " +
              $"in {since} validations (validation.patience: {_patience})"
            : null;
    }
}
