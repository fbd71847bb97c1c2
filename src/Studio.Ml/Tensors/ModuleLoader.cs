using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tensors;

/// <summary>What loading a checkpoint into a module found: every name that did not line up.</summary>
public sealed record LoadReport(
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<string> ShapeMismatches,
    int Loaded)
{
    public bool IsClean => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0;

    public override string ToString() =>
        IsClean
            ? $"{Loaded} tensors loaded"
            : string.Join("; ", new[]
            {
                Missing.Count > 0 ? $"missing: {string.Join(", ", Missing)}" : null,
                Unexpected.Count > 0 ? $"unexpected: {string.Join(", ", Unexpected)}" : null,
                ShapeMismatches.Count > 0 ? $"shape mismatches: {string.Join(", ", ShapeMismatches)}" : null,
            }.Where(s => s is not null));

    /// <summary>Like <see cref="ToString"/>, but at most <paramref name="max"/> names per kind (a wrong config mismatches hundreds).</summary>
    public string Summary(int max = 3) =>
        IsClean
            ? ToString()
            : string.Join("; ", new[]
            {
                Part($"{Missing.Count} missing", Missing, max),
                Part($"{Unexpected.Count} unexpected", Unexpected, max),
                Part($"{ShapeMismatches.Count} shape mismatches", ShapeMismatches, max),
            }.Where(s => s is not null));

    static string? Part(string label, IReadOnlyList<string> names, int max) => names.Count == 0 ? null
        : $"{label}: {string.Join(", ", names.Take(max))}{(names.Count > max ? $", ... ({names.Count - max} more)" : "")}";
}

public sealed class CheckpointLoadException(string message, LoadReport report) : Exception(message)
{
    public LoadReport Report { get; } = report;

    /// <summary>
    /// When a model built from <paramref name="configPath"/> does not fit <paramref name="checkpointSource"/>, either
    /// file may be the wrong one: the error names both.
    /// </summary>
    public static T NamingConfig<T>(string checkpointSource, string configPath, Func<T> load)
    {
        try { return load(); }
        catch (CheckpointLoadException e) when (!e.Message.Contains(configPath, StringComparison.Ordinal))
        {
            throw new CheckpointLoadException(
                $"{checkpointSource} does not fit the model {configPath} describes: {e.Report.Summary()}", e.Report);
        }
    }
}

/// <summary>
/// Loads checkpoint tensors into a module's parameters and buffers by name. Each checkpoint tensor is read straight
/// into the parameter's storage when dtypes match, otherwise read once and converted, so the process never holds two
/// full copies of the weights.
/// </summary>
public static class ModuleLoader
{
    /// <param name="candidates">
    /// For a module name, the checkpoint names to try in order (aliases such as T5's tied `shared.weight` /
    /// `encoder.embed_tokens.weight`, or a wrapper prefix). Default: the name itself.
    /// </param>
    /// <param name="ignoreUnexpected">Checkpoint names that may be present without a module counterpart.</param>
    public static LoadReport Load(nn.Module module, Checkpoint checkpoint, bool strict = true,
        Func<string, IEnumerable<string>>? candidates = null, Func<string, bool>? ignoreUnexpected = null)
    {
        candidates ??= name => [name];
        var missing = new List<string>();
        var mismatched = new List<string>();
        var used = new HashSet<string>();
        int loaded = 0;
        var targets = module.state_dict();

        using (torch.no_grad())
        {
            foreach (var (name, target) in targets)
            {
                var source = candidates(name).FirstOrDefault(checkpoint.Contains);
                if (source is null) { missing.Add(name); continue; }
                used.Add(source);
                var entry = checkpoint.Entry(source);
                if (!entry.Shape.SequenceEqual(target.shape))
                {
                    mismatched.Add($"{name} (checkpoint [{string.Join(", ", entry.Shape)}], model [{string.Join(", ", target.shape)}])");
                    continue;
                }
                if (target.dtype == entry.DType && target.device_type == DeviceType.CPU && target.is_contiguous())
                {
                    checkpoint.ReadInto(source, target);
                }
                else
                {
                    using var value = checkpoint.Read(source);
                    target.copy_(value);
                }
                loaded++;
            }
        }

        // A name counts as used when it or any of its aliases was loaded.
        var unexpected = checkpoint.Names
            .Where(n => !used.Contains(n) && !(ignoreUnexpected?.Invoke(n) ?? false))
            .Where(n => !targets.Keys.Any(t => candidates(t).Contains(n) && used.Overlaps(candidates(t))))
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToList();
        var report = new LoadReport(missing, unexpected, mismatched, loaded);
        if (strict && !report.IsClean)
            throw new CheckpointLoadException($"{checkpoint.Source} does not fit {module.GetName()}: {report.Summary()}", report);
        return report;
    }
}
