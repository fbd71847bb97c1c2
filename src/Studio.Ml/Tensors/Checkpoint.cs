using System.Text.Json;
using static TorchSharp.torch;

namespace Studio.Ml.Tensors;

/// <summary>
/// The weights of one model: a single .safetensors file, or a folder holding one (`model.safetensors`,
/// `diffusion_pytorch_model.safetensors`) or several shards named by a `*.safetensors.index.json`.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    readonly Dictionary<string, SafeTensorsFile> _fileOf;
    readonly List<SafeTensorsFile> _files;

    public string Source { get; }
    public IReadOnlyCollection<string> Names => _fileOf.Keys;
    public IReadOnlyDictionary<string, string> Metadata => _files.Count > 0 ? _files[0].Metadata : new Dictionary<string, string>();
    public long TotalBytes => _files.Sum(f => f.FileLength);

    Checkpoint(string source, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> fileOf)
    {
        Source = source; _files = files; _fileOf = fileOf;
    }

    public static Checkpoint Open(string path)
    {
        if (File.Exists(path))
        {
            if (path.EndsWith(".index.json", StringComparison.Ordinal)) return OpenIndex(path);
            var file = SafeTensorsFile.Open(path);
            return new Checkpoint(path, [file], file.Entries.Keys.ToDictionary(k => k, _ => file));
        }
        if (!Directory.Exists(path)) throw new FileNotFoundException($"{path}: no such checkpoint file or folder", path);
        var indexes = Directory.GetFiles(path, "*.safetensors.index.json");
        if (indexes.Length > 1)
            throw new InvalidDataException($"{path}: several index files ({string.Join(", ", indexes.Select(System.IO.Path.GetFileName))}); pass the one to use");
        if (indexes.Length == 1) return OpenIndex(indexes[0]);
        // As transformers/diffusers: the weights file has a standard name; other .safetensors files beside it
        // (e.g. an exported projection) are not part of the model.
        foreach (var standard in new[] { "model.safetensors", "diffusion_pytorch_model.safetensors" })
            if (File.Exists(System.IO.Path.Combine(path, standard))) return Open(System.IO.Path.Combine(path, standard));
        var singles = Directory.GetFiles(path, "*.safetensors");
        if (singles.Length == 0) throw new FileNotFoundException($"{path}: no *.safetensors file in this folder");
        if (singles.Length > 1)
            throw new InvalidDataException($"{path}: several .safetensors files and no index ({string.Join(", ", singles.Select(System.IO.Path.GetFileName))})");
        return Open(singles[0]);
    }

    static Checkpoint OpenIndex(string indexPath)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{indexPath}: no weight_map object");
            weightMap = map.EnumerateObject().ToDictionary(p => p.Name,
                p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new InvalidDataException($"{indexPath}: weight_map['{p.Name}'] is not a file name"));
        }
        catch (JsonException e) { throw new InvalidDataException($"{indexPath}: not valid JSON ({e.Message})"); }
        catch (ArgumentException) { throw new InvalidDataException($"{indexPath}: weight_map names a tensor twice"); }
        if (weightMap.Count == 0) throw new InvalidDataException($"{indexPath}: weight_map is empty");

        var files = new Dictionary<string, SafeTensorsFile>();
        var fileOf = new Dictionary<string, SafeTensorsFile>();
        try
        {
            foreach (var shard in weightMap.Values.Distinct())
            {
                if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw new InvalidDataException($"{indexPath}: shard name '{shard}' points outside the folder");
                var shardPath = System.IO.Path.Combine(dir, shard);
                if (!File.Exists(shardPath))
                    throw new InvalidDataException(
                        $"{indexPath}: shard '{shard}' (holding '{weightMap.First(kv => kv.Value == shard).Key}') does not exist in {dir}");
                files[shard] = SafeTensorsFile.Open(shardPath);
            }
            foreach (var (name, shard) in weightMap)
            {
                var file = files[shard];
                if (!file.Entries.ContainsKey(name))
                    throw new InvalidDataException($"{indexPath}: '{name}' is mapped to {shard}, which does not contain it");
                fileOf[name] = file;
            }
        }
        catch
        {
            foreach (var f in files.Values) f.Dispose();
            throw;
        }
        return new Checkpoint(indexPath, files.Values.ToList(), fileOf);
    }

    public bool Contains(string name) => _fileOf.ContainsKey(name);

    public TensorEntry Entry(string name) => FileOf(name).Entry(name);

    public Tensor Read(string name) => FileOf(name).Read(name);

    public Tensor Read(string name, ScalarType dtype) => FileOf(name).Read(name, dtype);

    public void ReadInto(string name, Tensor destination) => FileOf(name).ReadInto(FileOf(name).Entry(name), destination);

    SafeTensorsFile FileOf(string name) =>
        _fileOf.TryGetValue(name, out var f) ? f : throw new KeyNotFoundException($"{Source}: no tensor named '{name}'");

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
