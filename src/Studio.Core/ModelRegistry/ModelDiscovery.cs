using System.Text.Json;
using Studio.Core.Data;

namespace Studio.Core.ModelRegistry;

/// <summary>A folder that looks like a model the studio can use, and as what (the Models page offers to register it).</summary>
public sealed record DiscoveredModel(string Folder, ModelKind Kind);

/// <summary>
/// Finds model folders under the allowed roots by their marker files, without reading any weights: a diffusers
/// pipeline (model_index.json) is a teacher pipeline, a config.json with project_out_dim an exported (DistillT5) student,
/// a config.json with model_type "t5" a student initialisation. A model folder is not searched further; hidden folders
/// and the studio's own artifacts (checkpoints are offered by Generate, exports register themselves) are skipped; the
/// walk is bounded in depth and in folders read, so a root such as /data on a large disk stays quick.
/// </summary>
public static class ModelDiscovery
{
    public const int MaxDepth = 4;
    public const int MaxFolders = 5_000;

    public static IReadOnlyList<DiscoveredModel> Find(IEnumerable<string> roots, IEnumerable<string> skip, int maxDepth = MaxDepth, int maxFolders = MaxFolders) =>
        Walk(roots, skip, maxDepth, maxFolders).Where(f => f.Kind is not null).Select(f => new DiscoveredModel(f.Folder, f.Kind!.Value)).ToList();

    /// <summary>The most LoRA files <see cref="FindLoras"/> lists.</summary>
    public const int MaxLoras = 500;

    /// <summary>
    /// LoRA files (of a transformer, and maybe CLIP) under the allowed roots: `.safetensors` files outside model folders (whose weights
    /// they are not) whose header is a LoRA's (<see cref="Studio.Ml.Models.Common.LoraWeights.Check"/>; no weights read),
    /// by path, in the same bounded walk as <see cref="Find"/>.
    /// </summary>
    public static IReadOnlyList<string> FindLoras(IEnumerable<string> roots, IEnumerable<string> skip, int maxDepth = MaxDepth, int maxFolders = MaxFolders)
    {
        var found = new List<string>();
        foreach (var (folder, _) in Walk(roots, skip, maxDepth, maxFolders).Where(f => f.Kind is null))
        {
            IEnumerable<string> files;
            try { files = Directory.EnumerateFiles(folder, "*.safetensors").Order(StringComparer.Ordinal).ToList(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var file in files)
            {
                try { Studio.Ml.Models.Common.LoraWeights.Check(file); }
                catch (Exception e) when (e is InvalidDataException or Studio.Ml.Tensors.SafeTensorsFormatException or IOException or UnauthorizedAccessException) { continue; }
                found.Add(file);
                if (found.Count == MaxLoras) return found;
            }
        }
        return found;
    }

    /// <summary>
    /// The LoRA files a studio offers (Generate's and Compare's LoRA fields): <see cref="FindLoras"/> under its allowed
    /// roots, skipping its artifacts, each inside the allowed folders once its links are followed.
    /// </summary>
    public static Task<IReadOnlyList<string>> FindLorasAsync(Studio.Core.StudioOptions options, CancellationToken ct = default) => Task.Run(() =>
    {
        var paths = new Hosting.PathGuard(options);
        return (IReadOnlyList<string>)FindLoras(paths.Roots, [options.ArtifactRoot]).Where(paths.IsAllowed).ToList();
    }, ct);

    /// <summary>Every folder the walk reads, breadth first, with its kind (a model folder is not searched further).</summary>
    static IEnumerable<(string Folder, ModelKind? Kind)> Walk(IEnumerable<string> roots, IEnumerable<string> skip, int maxDepth, int maxFolders)
    {
        var skipped = skip.Select(p => Path.TrimEndingDirectorySeparator(Path.GetFullPath(p))).ToHashSet();
        var pending = new Queue<(string Folder, int Depth)>(roots.Select(r => (Path.GetFullPath(r), 0)));
        var seen = new HashSet<string>();
        var read = 0;
        while (pending.Count > 0 && read < maxFolders)
        {
            var (folder, depth) = pending.Dequeue();
            folder = Path.TrimEndingDirectorySeparator(folder);
            if (skipped.Contains(folder) || !seen.Add(folder)) continue;
            read++;
            var kind = KindOf(folder);
            yield return (folder, kind);
            if (kind is not null || depth >= maxDepth) continue;
            List<string> children;
            try { children = Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal).ToList(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var child in children.Where(c => !Path.GetFileName(c).StartsWith('.')))
                pending.Enqueue((child, depth + 1));
        }
    }

    /// <summary>What a folder's marker files say it is, or null.</summary>
    public static ModelKind? KindOf(string folder)
    {
        if (File.Exists(Path.Combine(folder, "model_index.json"))) return ModelKind.TeacherPipeline;
        var config = Path.Combine(folder, "config.json");
        if (!File.Exists(config)) return null;
        try
        {
            using var stream = File.OpenRead(config);
            if (stream.Length > 1 << 20) return null;
            using var json = JsonDocument.Parse(stream);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            if (root.TryGetProperty("project_out_dim", out _)) return ModelKind.ExportedStudent;
            return root.TryGetProperty("model_type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "t5"
                ? ModelKind.StudentInit : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { return null; }
    }
}
