using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Common;

/// <summary>One adapted layer: the transformer's `Module.weight` [out, in] gains Scale x Up @ Down.</summary>
/// <param name="Down">lora_A.weight, [rank, in].</param>
/// <param name="Up">lora_B.weight, [out, rank].</param>
/// <param name="Scale">alpha / rank where the file stores an alpha, else 1 (as diffusers reads such a file).</param>
public sealed record LoraLayer(string Module, Tensor Down, Tensor Up, double Scale)
{
    public long Rank => Down.shape[0];
}

/// <summary>
/// A LoRA of a diffusion transformer in diffusers' layout (PEFT's names), as diffusers' `save_lora_weights` and ai-toolkit
/// write them for FLUX and SD3: per adapted linear layer `transformer.MODULE.lora_A.weight` [rank, in] and
/// `transformer.MODULE.lora_B.weight` [out, rank], optionally `transformer.MODULE.alpha` (then scaled alpha / rank), with
/// MODULE a diffusers name of the transformer (`transformer_blocks.0.attn.to_q`). PEFT's own prefix
/// `base_model.model.` is read the same way. Refused, naming the file and the key: LoRAs of the text encoders
/// (the studio adapts the transformer only), kohya's and the original FLUX repository's layouts (other names), and
/// anything else. <see cref="MergeInto"/> adds the layers to a loaded transformer's weights as diffusers' `fuse_lora`
/// does, and gives them back exactly when the merge is disposed.
/// </summary>
public sealed class LoraWeights : IDisposable
{
    static readonly string[] Prefixes = ["transformer.", "base_model.model."];

    public string Path { get; }
    public IReadOnlyList<LoraLayer> Layers { get; }

    LoraWeights(string path, IReadOnlyList<LoraLayer> layers) => (Path, Layers) = (path, layers);

    /// <summary>
    /// Checks a LoRA file's header alone (names, pairs, shapes, dtypes; no weights read), as a request is checked before
    /// it is queued; the number of layers it adapts.
    /// </summary>
    public static int Check(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        return Parts(file).Count;
    }

    /// <summary>Each layer's tensors by part (lora_A.weight, lora_B.weight, optional alpha), checked; refused naming the file and the key or layer.</summary>
    static SortedDictionary<string, Dictionary<string, TensorEntry>> Parts(SafeTensorsFile file)
    {
        var path = file.Path;
        var parts = new SortedDictionary<string, Dictionary<string, TensorEntry>>(StringComparer.Ordinal);
        foreach (var (key, entry) in file.Entries)
        {
            var (module, part) = Split(path, key);
            if (!parts.TryGetValue(module, out var of)) parts[module] = of = [];
            of[part] = entry;
        }
        if (parts.Count == 0) throw new InvalidDataException($"{path}: no LoRA layers (no tensors named transformer.MODULE.lora_A.weight)");
        foreach (var (module, of) in parts)
        {
            if (!of.TryGetValue("lora_A.weight", out var a) || !of.TryGetValue("lora_B.weight", out var b))
                throw new InvalidDataException($"{path}: layer '{module}' needs both lora_A.weight and lora_B.weight, found {string.Join(", ", of.Keys.Order(StringComparer.Ordinal))}");
            if (a.Shape.Length != 2 || b.Shape.Length != 2 || a.Shape[0] != b.Shape[1] || a.Shape[0] == 0)
                throw new InvalidDataException($"{path}: layer '{module}': lora_A.weight [{string.Join(", ", a.Shape)}] and lora_B.weight [{string.Join(", ", b.Shape)}] are not [rank, in] and [out, rank]");
            if (!IsFloat(a.DType) || !IsFloat(b.DType))
                throw new InvalidDataException($"{path}: layer '{module}': LoRA weights must be floating point, found {a.DType} and {b.DType}");
            if (of.TryGetValue("alpha", out var alpha) && alpha.ElementCount != 1)
                throw new InvalidDataException($"{path}: '{Prefixed(file, module)}alpha' must be one number, found shape [{string.Join(", ", alpha.Shape)}]");
        }
        return parts;
    }

    public static LoraWeights Load(string path)
    {
        TorchRuntime.Initialise();
        using var file = SafeTensorsFile.Open(path);
        var parts = Parts(file);
        var layers = new List<LoraLayer>();
        try
        {
            foreach (var (module, of) in parts)
            {
                var (a, b) = (of["lora_A.weight"], of["lora_B.weight"]);
                var scale = 1.0;
                if (of.TryGetValue("alpha", out var alphaEntry))
                {
                    using var alphaTensor = file.Read(alphaEntry);
                    var alpha = alphaTensor.to_type(ScalarType.Float64).item<double>();
                    if (!double.IsFinite(alpha)) throw new InvalidDataException($"{path}: '{Prefixed(file, module)}alpha' is {alpha}, not a finite number");
                    scale = alpha / a.Shape[0];
                }
                Tensor down = file.Read(a.Name, ScalarType.Float32), up;
                try { up = file.Read(b.Name, ScalarType.Float32); }
                catch { down.Dispose(); throw; }
                layers.Add(new LoraLayer(module, down, up, scale));
            }
        }
        catch
        {
            foreach (var layer in layers) { layer.Down.Dispose(); layer.Up.Dispose(); }
            throw;
        }
        return new LoraWeights(path, layers);
    }

    static bool IsFloat(ScalarType t) => t is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64;

    static string Prefixed(SafeTensorsFile file, string module) =>
        Prefixes.Select(p => p + module + ".").FirstOrDefault(p => file.Entries.Keys.Any(k => k.StartsWith(p, StringComparison.Ordinal))) ?? module + ".";

    /// <summary>The layer a key belongs to and its part (lora_A.weight, lora_B.weight, alpha); refuses other keys, naming why.</summary>
    static (string Module, string Part) Split(string path, string key)
    {
        if (key.StartsWith("lora_unet_", StringComparison.Ordinal) || key.StartsWith("lora_te", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: '{key}' is kohya's LoRA layout; convert it to diffusers' layout (transformer.MODULE.lora_A.weight) first");
        if (key.StartsWith("text_encoder", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: '{key}' adapts a text encoder; the studio applies LoRAs to the transformer only");
        if (key.StartsWith("diffusion_model.", StringComparison.Ordinal) || key.Contains("double_blocks.", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: '{key}' names the original FLUX repository's layers; convert it to diffusers' layout (transformer.MODULE.lora_A.weight) first");
        var prefix = Prefixes.FirstOrDefault(p => key.StartsWith(p, StringComparison.Ordinal));
        foreach (var part in new[] { ".lora_A.weight", ".lora_B.weight", ".alpha" })
            if (prefix is not null && key.EndsWith(part, StringComparison.Ordinal) && key.Length > prefix.Length + part.Length)
                return (key[prefix.Length..^part.Length], part[1..]);
        throw new InvalidDataException($"{path}: '{key}' is not a LoRA tensor of the transformer in diffusers' layout (transformer.MODULE.lora_A.weight, lora_B.weight or alpha)");
    }

    /// <summary>
    /// Adds <paramref name="scale"/> x each layer's Scale x Up @ Down to <paramref name="transformer"/>'s weights
    /// (computed in float32 on the weight's device, then rounded to the weight's dtype, as diffusers' fuse_lora), keeping
    /// the weights it changes on the CPU; disposing the result copies them back, bit for bit. Nothing is changed when a
    /// layer is missing or of another shape (refused naming the layer).
    /// </summary>
    public IDisposable MergeInto(nn.Module transformer, double scale)
    {
        if (!double.IsFinite(scale)) throw new ArgumentException($"LoRA scale {scale} is not a finite number");
        var parameters = transformer.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var targets = new List<(LoraLayer Layer, Tensor Weight)>();
        foreach (var layer in Layers)
        {
            if (!parameters.TryGetValue(layer.Module + ".weight", out var weight))
                throw new InvalidDataException($"{Path}: the transformer has no layer '{layer.Module}' (a LoRA of another model?)");
            long outFeatures = layer.Up.shape[0], inFeatures = layer.Down.shape[1];
            if (weight.dim() != 2 || weight.shape[0] != outFeatures || weight.shape[1] != inFeatures)
                throw new InvalidDataException($"{Path}: layer '{layer.Module}' is [{string.Join(", ", weight.shape)}] in the transformer, the LoRA makes [{outFeatures}, {inFeatures}]");
            targets.Add((layer, weight));
        }
        var merge = new Merge();
        using var _ = torch.no_grad();
        try
        {
            foreach (var (layer, weight) in targets)
            {
                merge.Keep(weight);
                using var scope = NewDisposeScope();
                var delta = torch.matmul(layer.Up.to(weight.device), layer.Down.to(weight.device)).mul_(scale * layer.Scale);
                weight.copy_(weight.to_type(ScalarType.Float32).add_(delta).to_type(weight.dtype));
            }
        }
        catch
        {
            merge.Dispose();
            throw;
        }
        return merge;
    }

    /// <summary>The weights a merge changed, as they were: restored on dispose.</summary>
    sealed class Merge : IDisposable
    {
        readonly List<(Tensor Weight, Tensor Original)> _kept = [];

        public void Keep(Tensor weight)
        {
            using var alias = weight.detach();
            var original = alias.device_type == DeviceType.CPU ? alias.clone() : alias.cpu();
            _kept.Add((weight, original.DetachFromDisposeScope()));
        }

        public void Dispose()
        {
            using var _ = torch.no_grad();
            foreach (var (weight, original) in _kept)
            {
                weight.copy_(original);
                original.Dispose();
            }
            _kept.Clear();
        }
    }

    public void Dispose()
    {
        foreach (var layer in Layers) { layer.Down.Dispose(); layer.Up.Dispose(); }
    }
}
