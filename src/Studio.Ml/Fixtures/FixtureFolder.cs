using System.Text.Json.Nodes;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// A reference case laid out like tests/fixtures/models/*: config.json, model.safetensors (when the model has
/// weights), inputs.safetensors, and outputs.safetensors, of which only the header (names, shapes, dtypes, metadata)
/// is used to say what must be computed; the stored values are never read here.
/// </summary>
public sealed class FixtureFolder : IDisposable
{
    public string Directory { get; }
    public JsonObject Config { get; }
    public Checkpoint Inputs { get; }
    /// <summary>The requested outputs: names, dtypes and shapes (values are not read).</summary>
    public IReadOnlyDictionary<string, TensorEntry> Outputs { get; }
    public IReadOnlyDictionary<string, string> OutputMetadata { get; }
    public string WeightsPath => Path.Combine(Directory, "model.safetensors");
    public bool HasWeights => File.Exists(WeightsPath);
    public string ConfigPath => Path.Combine(Directory, "config.json");

    FixtureFolder(string directory, JsonObject config, Checkpoint inputs, SafeTensorsFile outputs)
    {
        Directory = directory;
        Config = config;
        Inputs = inputs;
        Outputs = outputs.Entries;
        OutputMetadata = outputs.Metadata;
    }

    public static FixtureFolder Open(string directory)
    {
        directory = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: no such fixture folder");
        var configPath = Path.Combine(directory, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: missing (every fixture folder has a config.json)", configPath);
        JsonObject config;
        try { config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new InvalidDataException($"{configPath}: not a JSON object"); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{configPath}: not valid JSON ({e.Message})"); }
        var outputsPath = Path.Combine(directory, "outputs.safetensors");
        if (!File.Exists(outputsPath)) throw new FileNotFoundException($"{outputsPath}: missing (it names the outputs to compute)", outputsPath);
        var inputsPath = Path.Combine(directory, "inputs.safetensors");
        if (!File.Exists(inputsPath)) throw new FileNotFoundException($"{inputsPath}: missing", inputsPath);
        using var outputs = SafeTensorsFile.Open(outputsPath);
        return new FixtureFolder(directory, config, Checkpoint.Open(inputsPath), outputs);
    }

    /// <summary>A config string field, or null.</summary>
    public string? ConfigString(string key) => Config[key]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? Config[key]!.GetValue<string>() : null;

    /// <summary>The `architectures` list (transformers) or `_class_name` (diffusers) of the config.</summary>
    public IReadOnlyList<string> ClassNames()
    {
        var names = new List<string>();
        if (ConfigString("_class_name") is { } c) names.Add(c);
        if (Config["architectures"] is JsonArray a) names.AddRange(a.Select(x => x?.GetValue<string>()).OfType<string>());
        return names;
    }

    public Tensor Input(string name) => Inputs.Contains(name)
        ? Inputs.Read(name)
        : throw new KeyNotFoundException($"{Path.Combine(Directory, "inputs.safetensors")}: no input named '{name}'");

    /// <summary>The input on <paramref name="device"/> (read on the CPU, then moved).</summary>
    public Tensor Input(string name, Device device)
    {
        var input = Input(name);
        if (input.device_type == device.type && input.device_index == device.index) return input;
        using (input) return input.to(device);
    }

    public void Dispose() => Inputs.Dispose();
}
