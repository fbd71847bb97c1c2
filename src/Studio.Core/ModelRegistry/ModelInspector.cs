using System.Text.Json;
using Studio.Core.Data;
using Studio.Ml.Tensors;

namespace Studio.Core.ModelRegistry;

/// <summary>What a model folder holds, as the Models page shows it.</summary>
public sealed record ModelInspection(string? Architecture, long? ParameterCount, string? DType, long SizeBytes, IReadOnlyList<string> Errors);

/// <summary>
/// Reads a local model folder without loading any weights: the architecture from config.json (transformers) or
/// model_index.json (a diffusers pipeline), parameter count and dtypes from the safetensors headers, size on disk,
/// and what is missing or broken for the kind of model it is registered as.
/// </summary>
public static class ModelInspector
{
    /// <summary>The components a text-to-image teacher pipeline needs (FLUX and SD3 alike).</summary>
    static readonly string[] PipelineComponents = ["transformer", "vae", "text_encoder", "tokenizer", "scheduler"];
    static readonly string[] TokenizerFiles = ["spiece.model", "tokenizer.json"];

    public static ModelInspection Inspect(string folder, ModelKind kind)
    {
        var errors = new List<string>();
        if (!Directory.Exists(folder)) return new ModelInspection(null, null, null, 0, [$"{folder}: no such folder"]);

        string? architecture = null;
        var modelIndex = Path.Combine(folder, "model_index.json");
        var config = Path.Combine(folder, "config.json");
        JsonElement? configJson = null;
        if (File.Exists(modelIndex))
        {
            var index = ReadJson(modelIndex, errors);
            if (index is { } i)
            {
                architecture = i.TryGetProperty("_class_name", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : "diffusers pipeline";
                foreach (var component in i.EnumerateObject().Where(p => !p.Name.StartsWith('_') && p.Value.ValueKind == JsonValueKind.Array))
                    if (!Directory.Exists(Path.Combine(folder, component.Name)))
                        errors.Add($"model_index.json lists '{component.Name}' but the folder has no {component.Name}/");
            }
        }
        else if (File.Exists(config))
        {
            configJson = ReadJson(config, errors);
            if (configJson is { } c)
            {
                architecture = c.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0
                    ? a[0].GetString()
                    : c.TryGetProperty("model_type", out var t) ? t.GetString() : c.TryGetProperty("_class_name", out var n) ? n.GetString() : null;
                if (c.TryGetProperty("project_out_dim", out _)) architecture = $"{architecture ?? "T5"} + projection (DistillT5)";
            }
        }
        else errors.Add("no config.json or model_index.json");

        switch (kind)
        {
            case ModelKind.TeacherPipeline:
                if (!File.Exists(modelIndex)) errors.Add("a teacher pipeline is a diffusers folder with model_index.json");
                else
                    foreach (var component in PipelineComponents.Where(c => !Directory.Exists(Path.Combine(folder, c))))
                        errors.Add($"missing the {component}/ component");
                break;
            case ModelKind.StudentInit:
                if (configJson is { } sc && sc.TryGetProperty("model_type", out var mt) && mt.GetString() is { } type && type != "t5")
                    errors.Add($"config.json model_type is '{type}'; a student starts from a T5 encoder");
                if (!TokenizerFiles.Any(f => File.Exists(Path.Combine(folder, f))))
                    errors.Add($"no tokenizer ({string.Join(" or ", TokenizerFiles)})");
                break;
            case ModelKind.ExportedStudent:
                if (configJson is { } ec && !ec.TryGetProperty("project_out_dim", out _))
                    errors.Add("config.json has no project_out_dim: not a DistillT5-layout export");
                break;
        }

        long parameters = 0;
        var dtypes = new SortedSet<string>();
        var weightFiles = Directory.EnumerateFiles(folder, "*.safetensors", SearchOption.AllDirectories).Order().ToList();
        foreach (var file in weightFiles)
        {
            try
            {
                using var st = SafeTensorsFile.Open(file);
                foreach (var entry in st.Entries.Values)
                {
                    parameters += entry.ElementCount;
                    dtypes.Add(DType.Name(entry.DType));
                }
            }
            catch (Exception e) when (e is SafeTensorsFormatException or IOException or UnauthorizedAccessException)
            {
                errors.Add(e.Message);
            }
        }
        // Sharded weights: the index must name shards that exist and hold what it says.
        foreach (var indexFile in Directory.EnumerateFiles(folder, "*.safetensors.index.json", SearchOption.AllDirectories))
        {
            try { using var _ = Checkpoint.Open(indexFile); }
            catch (Exception e) when (e is InvalidDataException or SafeTensorsFormatException or IOException or KeyNotFoundException) { errors.Add(e.Message); }
        }
        if (weightFiles.Count == 0) errors.Add("no *.safetensors weights");

        return new ModelInspection(architecture, weightFiles.Count > 0 ? parameters : null,
            dtypes.Count > 0 ? string.Join(", ", dtypes) : null, SizeOnDisk(folder), errors);
    }

    static JsonElement? ReadJson(string path, List<string> errors)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc.RootElement.Clone();
            errors.Add($"{Path.GetFileName(path)} is not a JSON object");
        }
        catch (JsonException e) { errors.Add($"{Path.GetFileName(path)} is not valid JSON: {e.Message}"); }
        return null;
    }

    static long SizeOnDisk(string folder) =>
        new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
}
