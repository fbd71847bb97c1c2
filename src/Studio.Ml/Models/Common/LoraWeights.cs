using System.Text.RegularExpressions;
using Studio.Ml.Models.Flux;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Common;

/// <summary>How a LoRA file names the layers it adapts.</summary>
public enum LoraLayout
{
    /// <summary>diffusers' names (`transformer_blocks.0.attn.to_q`), as diffusers, PEFT and ai-toolkit write them.</summary>
    Diffusers,
    /// <summary>The original FLUX repository's names (`double_blocks.0.img_attn.qkv`), as ComfyUI-style files write them.</summary>
    FluxOriginal,
    /// <summary>kohya's sd-scripts: the original FLUX names with '_' for '.' after `lora_unet_`.</summary>
    FluxKohya,
    /// <summary>
    /// XLabs' x-flux (`double_blocks.0.processor.qkv_lora1.down.weight`): per double block the image stream's qkv and proj
    /// (lora1) and the text stream's (lora2), read as the original layout's `img_attn`/`txt_attn` layers.
    /// </summary>
    FluxXLabs,
    /// <summary>
    /// diffusers' names of a CLIP text encoder (`text_encoder.text_model.encoder.layers.0.self_attn.q_proj`; `text_encoder_2.`
    /// for SD3's second CLIP), as diffusers writes a LoRA that trained CLIP too.
    /// </summary>
    TextEncoder,
    /// <summary>kohya's names of a CLIP text encoder: `lora_te1_text_model_encoder_layers_0_self_attn_q_proj` ('_' for '.'; `lora_te2_` SD3's second CLIP).</summary>
    TextEncoderKohya,
}

/// <summary>One adapted layer: its weight [out, in] gains Scale x Up @ Down.</summary>
/// <param name="Module">The layer as the file names it (see <paramref name="Layout"/>).</param>
/// <param name="Down">lora_A (kohya's lora_down), [rank, in].</param>
/// <param name="Up">lora_B (kohya's lora_up), [out, rank].</param>
/// <param name="Scale">alpha / rank where the file stores an alpha, else 1 (as diffusers reads such a file).</param>
/// <param name="Part">The pipeline part it adapts, by folder: `transformer`, `text_encoder` (CLIP-L) or `text_encoder_2` (SD3's CLIP-G).</param>
public sealed record LoraLayer(string Module, LoraLayout Layout, Tensor Down, Tensor Up, double Scale, string Part = LoraWeights.Transformer)
{
    public long Rank => Down.shape[0];
}

/// <summary>
/// A LoRA of a diffusion transformer: per adapted linear layer a down matrix A [rank, in] and an up matrix B [out, rank],
/// optionally an alpha (then scaled alpha / rank). Read in three layouts: diffusers' (`transformer.MODULE.lora_A.weight`,
/// `lora_B.weight`, `alpha`, MODULE a diffusers name such as `transformer_blocks.0.attn.to_q`; PEFT's
/// `base_model.model.` prefix too), as diffusers' `save_lora_weights` and ai-toolkit write FLUX and SD3 LoRAs; for FLUX,
/// the original repository's (`diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight`, or lora_down/lora_up) and
/// kohya's (`lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight`), whose fused layers are split by rows onto
/// diffusers' layers as <see cref="FluxOriginalCheckpoint"/> splits a checkpoint (the up matrix's rows; the down matrix
/// is shared); XLabs' x-flux files (double blocks' `processor.qkv_lora1`/`proj_lora1` for the image stream, `lora2` for
/// the text stream) as the original layout's attention layers. A LoRA may adapt CLIP too (`text_encoder.text_model.MODULE`
/// in diffusers' layout, `lora_te1_text_model_MODULE` in kohya's; `text_encoder_2`/`lora_te2_` SD3's second CLIP), as
/// kohya's sd-scripts and diffusers write a LoRA that trained CLIP: those layers go to the pipeline's CLIP, shared by the
/// teacher and its students. Refused, naming the file and the key: LoRAs of T5 (the encoder the studio's students replace,
/// so a teacher's T5 LoRA would compare unlike with like) and anything else. <see cref="MergeInto(IReadOnlyList{ValueTuple{string, nn.Module}}, double)"/>
/// adds the layers to a loaded pipeline's weights as diffusers' `fuse_lora` does, and gives them back exactly when the
/// merge is disposed.
/// </summary>
public sealed class LoraWeights : IDisposable
{
    /// <summary>The part a transformer's layers adapt (its folder's name).</summary>
    public const string Transformer = "transformer";

    static readonly string[] Prefixes = ["transformer.", "base_model.model.", "model.diffusion_model.", "diffusion_model."];
    static readonly Regex KohyaTextEncoder = new(@"^lora_te([123])_(.+)$", RegexOptions.CultureInvariant);
    static readonly Regex DiffusersTextEncoder = new(@"^text_encoder(_[23])?\.(.+)$", RegexOptions.CultureInvariant);
    static readonly string[] OriginalRoots = ["double_blocks.", "single_blocks.", "img_in.", "txt_in.", "time_in.", "vector_in.", "guidance_in.", "final_layer."];
    static readonly Regex XLabsKey = new(@"^(?:diffusion_model\.)?(double|single)_blocks\.(\d+)\.processor\.(qkv|proj)_lora([12]?)\.(down|up)\.weight$", RegexOptions.CultureInvariant);
    static readonly (string Suffix, string Part)[] Suffixes =
        [(".lora_A.weight", "A"), (".lora_down.weight", "A"), (".lora_B.weight", "B"), (".lora_up.weight", "B"), (".alpha", "alpha")];

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

    /// <summary>Each layer's tensors by part (A, B, optional alpha), checked; refused naming the file and the key or layer.</summary>
    static SortedDictionary<(string Part, string Module, LoraLayout Layout), Dictionary<string, TensorEntry>> Parts(SafeTensorsFile file)
    {
        var path = file.Path;
        var parts = new SortedDictionary<(string Part, string Module, LoraLayout Layout), Dictionary<string, TensorEntry>>(Comparer<(string Part, string Module, LoraLayout Layout)>.Create(
            (x, y) => string.CompareOrdinal(x.Part, y.Part) is var p and not 0 ? p : string.CompareOrdinal(x.Module, y.Module) is var c and not 0 ? c : x.Layout.CompareTo(y.Layout)));
        foreach (var (key, entry) in file.Entries)
        {
            var (target, layout, module, part) = Split(path, key);
            if (!parts.TryGetValue((target, module, layout), out var of)) parts[(target, module, layout)] = of = [];
            if (of.TryGetValue(part, out var twice))
                throw new InvalidDataException($"{path}: '{key}' and '{twice.Name}' are the same part of layer '{module}'");
            of[part] = entry;
        }
        if (parts.Count == 0) throw new InvalidDataException($"{path}: no LoRA layers (no tensors named transformer.MODULE.lora_A.weight)");
        foreach (var ((_, module, _), of) in parts)
        {
            if (!of.TryGetValue("A", out var a) || !of.TryGetValue("B", out var b))
                throw new InvalidDataException($"{path}: layer '{module}' needs both its down (lora_A) and up (lora_B) weights, found {string.Join(", ", of.Values.Select(e => e.Name).Order(StringComparer.Ordinal))}");
            if (a.Shape.Length != 2 || b.Shape.Length != 2 || a.Shape[0] != b.Shape[1] || a.Shape[0] == 0)
                throw new InvalidDataException($"{path}: layer '{module}': '{a.Name}' [{string.Join(", ", a.Shape)}] and '{b.Name}' [{string.Join(", ", b.Shape)}] are not [rank, in] and [out, rank]");
            if (!IsFloat(a.DType) || !IsFloat(b.DType))
                throw new InvalidDataException($"{path}: layer '{module}': LoRA weights must be floating point, found {a.DType} and {b.DType}");
            if (of.TryGetValue("alpha", out var alpha) && alpha.ElementCount != 1)
                throw new InvalidDataException($"{path}: '{alpha.Name}' must be one number, found shape [{string.Join(", ", alpha.Shape)}]");
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
            foreach (var ((target, module, layout), of) in parts)
            {
                var (a, b) = (of["A"], of["B"]);
                var scale = 1.0;
                if (of.TryGetValue("alpha", out var alphaEntry))
                {
                    using var alphaTensor = file.Read(alphaEntry);
                    var alpha = alphaTensor.to_type(ScalarType.Float64).item<double>();
                    if (!double.IsFinite(alpha)) throw new InvalidDataException($"{path}: '{alphaEntry.Name}' is {alpha}, not a finite number");
                    scale = alpha / a.Shape[0];
                }
                Tensor down = file.Read(a.Name, ScalarType.Float32), up;
                try { up = file.Read(b.Name, ScalarType.Float32); }
                catch { down.Dispose(); throw; }
                layers.Add(new LoraLayer(module, layout, down, up, scale, target));
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

    /// <summary>The pipeline part, layout, layer and tensor (A, B, alpha) of a key; refuses other keys, naming why.</summary>
    static (string Target, LoraLayout Layout, string Module, string Part) Split(string path, string key)
    {
        if (key.StartsWith("te1.", StringComparison.Ordinal) || key.StartsWith("te2.", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: '{key}' adapts a text encoder in a layout the studio does not read (it reads diffusers' " +
                                           "text_encoder.text_model.MODULE.lora_A.weight and kohya's lora_te1_text_model_MODULE.lora_down.weight)");
        if (XLabsKey.Match(key) is { Success: true } xlabs)
        {
            if (xlabs.Groups[1].Value == "single" || xlabs.Groups[4].Value == "")
                throw new InvalidDataException($"{path}: '{key}' is an XLabs LoRA layer the studio does not map (it maps the double blocks' " +
                                               "qkv_lora1, proj_lora1, qkv_lora2 and proj_lora2); convert the LoRA to diffusers' layout for this one");
            var stream = xlabs.Groups[4].Value == "1" ? "img_attn" : "txt_attn";
            return (Transformer, LoraLayout.FluxXLabs, $"double_blocks.{xlabs.Groups[2].Value}.{stream}.{xlabs.Groups[3].Value}", xlabs.Groups[5].Value == "down" ? "A" : "B");
        }
        var (suffix, part) = Suffixes.FirstOrDefault(s => key.EndsWith(s.Suffix, StringComparison.Ordinal));
        if (suffix is not null)
        {
            var name = key[..^suffix.Length];
            if (KohyaTextEncoder.Match(name) is { Success: true } kohya)
                return TextEncoderLayer(path, key, kohya.Groups[1].Value == "1" ? "" : "_" + kohya.Groups[1].Value, kohya.Groups[2].Value, LoraLayout.TextEncoderKohya, part);
            if (DiffusersTextEncoder.Match(name) is { Success: true } diffusers)
                return TextEncoderLayer(path, key, diffusers.Groups[1].Value, diffusers.Groups[2].Value, LoraLayout.TextEncoder, part);
            if (name.StartsWith("lora_unet_", StringComparison.Ordinal) && name.Length > "lora_unet_".Length)
                return (Transformer, LoraLayout.FluxKohya, name["lora_unet_".Length..], part);
            if (Prefixes.FirstOrDefault(p => name.StartsWith(p, StringComparison.Ordinal) && name.Length > p.Length) is { } prefix)
            {
                var module = name[prefix.Length..];
                return (Transformer, OriginalRoots.Any(r => module.StartsWith(r, StringComparison.Ordinal)) ? LoraLayout.FluxOriginal : LoraLayout.Diffusers, module, part);
            }
        }
        throw new InvalidDataException($"{path}: '{key}' is not a LoRA tensor of the transformer or of CLIP (diffusers' transformer.MODULE.lora_A.weight / lora_B.weight / alpha, " +
                                       "the original FLUX layout's diffusion_model.MODULE.lora_A.weight, kohya's lora_unet_MODULE.lora_down.weight, " +
                                       "XLabs' double_blocks.N.processor.qkv_lora1.down.weight, or CLIP's text_encoder.text_model.MODULE.lora_A.weight / lora_te1_text_model_MODULE.lora_down.weight)");
    }

    /// <summary>A text encoder's layer: CLIP's (its modules under `text_model`) is taken; T5's is refused.</summary>
    static (string Target, LoraLayout Layout, string Module, string Part) TextEncoderLayer(string path, string key, string index, string module, LoraLayout layout, string part)
    {
        if (!module.StartsWith("text_model", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: '{key}' adapts a T5 encoder (or a text encoder other than CLIP); the studio's students take T5's " +
                                           "place, so it merges LoRAs of the transformer and of CLIP only: leave the T5 layers out of the file");
        return ("text_encoder" + index, layout, module, part);
    }

    /// <summary>Rows [RowStart, RowStart + Rows) of a layer's update go to the weight named Weight (halves swapped: FLUX's final modulation).</summary>
    sealed record Target(string Weight, long RowStart, long Rows, bool SwapHalves);

    /// <summary>
    /// Where each row of a layer's update [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] goes among a
    /// transformer's weights (<paramref name="shapes"/>, by diffusers name; <paramref name="flux"/>: its configuration when
    /// it is FLUX's, which the original and kohya layouts need); refused naming the layer when it does not fit.
    /// </summary>
    static List<Target> Plan(string path, string target, string module, LoraLayout layout, long outFeatures, long inFeatures,
        IReadOnlyDictionary<string, long[]> shapes, FluxTransformerConfig? flux)
    {
        var targets = new List<Target>();
        var what = target == Transformer ? "the transformer" : $"the text encoder '{target}'";
        if (layout is LoraLayout.Diffusers or LoraLayout.TextEncoder or LoraLayout.TextEncoderKohya)
        {
            // kohya's names are diffusers' with '_' for '.': the weight whose name reads so.
            var weight = layout == LoraLayout.TextEncoderKohya
                ? shapes.Keys.Where(n => n.EndsWith(".weight", StringComparison.Ordinal)).FirstOrDefault(n => n[..^".weight".Length].Replace('.', '_') == module)
                : module + ".weight";
            if (weight is null || !shapes.TryGetValue(weight, out var shape))
                throw new InvalidDataException($"{path}: {what} has no layer '{module}' (a LoRA of another model?)");
            targets.Add(new Target(weight, 0, shape[0], false));
        }
        else
        {
            if (flux is null)
                throw new InvalidDataException($"{path}: layer '{module}' is named in {layout switch { LoraLayout.FluxKohya => "kohya's", LoraLayout.FluxXLabs => "XLabs'", _ => "the original repository's" }} layout, " +
                                               "which the studio maps onto FLUX transformers only; convert the LoRA to diffusers' layout for this one");
            var map = FluxOriginalCheckpoint.Map(flux);
            var original = layout is LoraLayout.FluxOriginal or LoraLayout.FluxXLabs ? module
                : map.Values.Select(s => s.Name).Where(n => n.EndsWith(".weight", StringComparison.Ordinal)).Select(n => n[..^".weight".Length])
                    .FirstOrDefault(n => n.Replace('.', '_') == module);
            foreach (var (name, source) in map.Where(p => original is not null && p.Value.Name == original + ".weight").OrderBy(p => p.Value.RowStart))
                if (shapes.TryGetValue(name, out var shape))
                    targets.Add(new Target(name, source.RowStart, source.RowCount ?? shape[0], source.SwapHalves));
            if (targets.Count == 0)
                throw new InvalidDataException($"{path}: {what} has no layer '{module}' (a LoRA of another model?)");
        }
        if (targets.Any(t => shapes[t.Weight].Length != 2 || shapes[t.Weight][1] != inFeatures || shapes[t.Weight][0] != t.Rows) || targets.Sum(t => t.Rows) != outFeatures)
            throw new InvalidDataException($"{path}: layer '{module}' is [{string.Join(" + ", targets.Select(t => $"[{string.Join(", ", shapes[t.Weight])}]"))}] " +
                                           $"in {what}, the LoRA makes [{outFeatures}, {inFeatures}]");
        return targets;
    }

    /// <summary>
    /// Checks, from headers alone, that every layer of the LoRA file at <paramref name="path"/> fits a transformer whose
    /// weights have <paramref name="shapes"/> (diffusers names; <paramref name="flux"/>: its configuration when it is
    /// FLUX's): what <see cref="MergeInto(nn.Module, double)"/> would refuse, refused before anything is loaded (a request is checked so before
    /// it is queued). Layers of a text encoder are checked by the other overload.
    /// </summary>
    public static void CheckFits(string path, IReadOnlyDictionary<string, long[]> shapes, FluxTransformerConfig? flux) =>
        CheckFits(path, new Dictionary<string, IReadOnlyDictionary<string, long[]>> { [Transformer] = shapes }, flux);

    /// <summary>
    /// The same for every part of a pipeline whose weights' shapes are known (<paramref name="partShapes"/>, by folder:
    /// `transformer`, `text_encoder`, ...); a layer of a part not given is left to the merge.
    /// </summary>
    public static void CheckFits(string path, IReadOnlyDictionary<string, IReadOnlyDictionary<string, long[]>> partShapes, FluxTransformerConfig? flux)
    {
        using var file = SafeTensorsFile.Open(path);
        foreach (var ((target, module, layout), of) in Parts(file))
            if (partShapes.TryGetValue(target, out var shapes))
                Plan(path, target, module, layout, of["B"].Shape[0], of["A"].Shape[1], shapes, target == Transformer ? flux : null);
    }

    /// <summary>
    /// Adds <paramref name="scale"/> x each layer's Scale x Up @ Down to <paramref name="transformer"/>'s weights; a LoRA
    /// with layers of a text encoder needs the pipeline's parts (the other overload).
    /// </summary>
    public IDisposable MergeInto(nn.Module transformer, double scale) => MergeInto([(Transformer, transformer)], scale);

    /// <summary>
    /// Adds <paramref name="scale"/> x each layer's Scale x Up @ Down to the weights of the part it adapts among
    /// <paramref name="parts"/> (a pipeline's modules by folder name, as <c>ISlotPipeline.WeightedParts</c>; computed in
    /// float32 on the weight's device, then rounded to the weight's dtype, as diffusers' fuse_lora), keeping the weights it
    /// changes on the CPU; disposing the result copies them back, bit for bit. Nothing is changed when a part or a layer
    /// is missing or of another shape (refused naming the layer). <paramref name="only"/> merges just the layers it
    /// accepts (a pipeline's transformer now, its CLIP each time it is loaded).
    /// </summary>
    public IDisposable MergeInto(IReadOnlyList<(string Part, nn.Module Module)> parts, double scale, Func<LoraLayer, bool>? only = null)
    {
        var layers = only is null ? Layers : Layers.Where(only).ToList();
        if (!double.IsFinite(scale)) throw new ArgumentException($"LoRA scale {scale} is not a finite number");
        var parameters = new Dictionary<string, Dictionary<string, Tensor>>();
        var shapes = new Dictionary<string, Dictionary<string, long[]>>();
        foreach (var target in layers.Select(l => l.Part).Distinct())
        {
            if (parts.FirstOrDefault(p => p.Part == target).Module is not { } module)
                throw new InvalidDataException($"{Path}: layer '{layers.First(l => l.Part == target).Module}' adapts '{target}', which this pipeline does not have");
            parameters[target] = module.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
            shapes[target] = parameters[target].ToDictionary(p => p.Key, p => p.Value.shape);
        }
        var flux = parts.FirstOrDefault(p => p.Part == Transformer).Module as FluxTransformer;
        var planned = layers.Select(layer => (Layer: layer, Targets: Plan(Path, layer.Part, layer.Module, layer.Layout, layer.Up.shape[0], layer.Down.shape[1],
                shapes[layer.Part], layer.Part == Transformer ? flux?.Config : null)
            .Select(t => (Name: t.Weight, Weight: parameters[layer.Part][t.Weight], t.RowStart, t.Rows, t.SwapHalves)).ToList())).ToList();
        // One weight's rows adapted twice (the same layer in two layouts, say) would add both: refused.
        foreach (var weight in planned.SelectMany(p => p.Targets.Select(t => (p.Layer, t.Name, t.RowStart, t.Rows))).GroupBy(a => (a.Layer.Part, a.Name)))
        {
            var byRow = weight.OrderBy(a => a.RowStart).ToList();
            for (var i = 1; i < byRow.Count; i++)
                if (byRow[i].RowStart < byRow[i - 1].RowStart + byRow[i - 1].Rows)
                    throw new InvalidDataException($"{Path}: layers '{byRow[i - 1].Layer.Module}' and '{byRow[i].Layer.Module}' both adapt '{weight.Key.Name}' of {weight.Key.Part}; keep one of them");
        }
        var merge = new Merge();
        using var _ = torch.no_grad();
        try
        {
            foreach (var (layer, targets) in planned)
            {
                foreach (var target in targets) merge.Keep(target.Weight);
                using var scope = NewDisposeScope();
                var device = targets[0].Weight.device;
                var delta = torch.matmul(layer.Up.to(device), layer.Down.to(device)).mul_(scale * layer.Scale);
                foreach (var target in targets)
                {
                    var rows = delta.narrow(0, target.RowStart, target.Rows);
                    if (target.SwapHalves)
                    {
                        var halves = rows.chunk(2, 0);
                        rows = torch.cat([halves[1], halves[0]], 0);
                    }
                    target.Weight.copy_(target.Weight.to_type(ScalarType.Float32).add_(rows.to(target.Weight.device)).to_type(target.Weight.dtype));
                }
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
            if (_kept.Any(k => k.Weight.Handle == weight.Handle)) return;
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
