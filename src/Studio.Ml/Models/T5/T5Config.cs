using System.Text.Json;
using System.Text.Json.Nodes;

namespace Studio.Ml.Models.T5;

/// <summary>
/// The fields of a Hugging Face `T5Config` that the encoder uses. `feed_forward_proj` decides the feed-forward:
/// "relu" (T5 v1.0), "gated-gelu" (v1.1 / Flan / FLUX's T5-XXL, tanh-approximated GELU), or any "[gated-]ACT".
/// </summary>
public sealed record T5Config(
    int VocabSize,
    int DModel,
    int DKv,
    int NumHeads,
    int DFf,
    int NumLayers,
    int RelativeAttentionNumBuckets,
    int RelativeAttentionMaxDistance,
    double LayerNormEpsilon,
    double DropoutRate,
    string DenseActFn,
    bool IsGatedAct)
{
    /// <summary>Activations the feed-forward supports (transformers' ACT2FN names).</summary>
    public static readonly IReadOnlySet<string> Activations = new HashSet<string> { "relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "silu", "swish" };

    public int InnerDim => NumHeads * DKv;

    public static T5Config Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such config file", path);
        try
        {
            return FromJson(JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"), path);
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
    }

    /// <summary>Reads a T5 config; the sizes are required, the rest default as in transformers' T5Config.</summary>
    public static T5Config FromJson(JsonObject json, string source)
    {
        if (json["model_type"] is { } type && type.GetValueKind() == JsonValueKind.String && type.GetValue<string>() is not ("t5" or "umt5"))
            throw new InvalidDataException($"{source}: field 'model_type' is '{type.GetValue<string>()}', not a T5 config");

        int Int(string field, int? fallback = null)
        {
            var node = json[field];
            if (node is null) return fallback ?? throw new InvalidDataException($"{source}: required field '{field}' is missing");
            return node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int value) && value > 0
                ? value
                : throw new InvalidDataException($"{source}: field '{field}' must be a positive integer, found {node.ToJsonString()}");
        }
        double Double(string field, double fallback)
        {
            var node = json[field];
            if (node is null) return fallback;
            return node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out double value) && value >= 0
                ? value
                : throw new InvalidDataException($"{source}: field '{field}' must be a non-negative number, found {node.ToJsonString()}");
        }

        var projNode = json["feed_forward_proj"];
        var proj = projNode is null ? "relu"
            : projNode.GetValueKind() == JsonValueKind.String ? projNode.GetValue<string>()
            : throw new InvalidDataException($"{source}: field 'feed_forward_proj' must be a string, found {projNode.ToJsonString()}");
        // As transformers: "ACT" or "gated-ACT"; "gated-gelu" means the tanh approximation for backward compatibility.
        var parts = proj.Split('-');
        var gated = parts.Length == 2 && parts[0] == "gated";
        if (parts.Length > 2 || (parts.Length == 2 && !gated))
            throw new InvalidDataException($"{source}: field 'feed_forward_proj' is '{proj}'; expected 'ACT' or 'gated-ACT', e.g. 'relu' or 'gated-gelu'");
        var act = proj == "gated-gelu" ? "gelu_new" : parts[^1];
        if (!Activations.Contains(act))
            throw new InvalidDataException($"{source}: field 'feed_forward_proj' is '{proj}'; activation '{act}' is not one of {string.Join(", ", Activations)}");

        return new T5Config(
            VocabSize: Int("vocab_size"),
            DModel: Int("d_model"),
            DKv: Int("d_kv"),
            NumHeads: Int("num_heads"),
            DFf: Int("d_ff"),
            NumLayers: Int("num_layers"),
            RelativeAttentionNumBuckets: Int("relative_attention_num_buckets", 32),
            RelativeAttentionMaxDistance: Int("relative_attention_max_distance", 128),
            LayerNormEpsilon: Double("layer_norm_epsilon", 1e-6),
            DropoutRate: Double("dropout_rate", 0.1),
            DenseActFn: act,
            IsGatedAct: gated);
    }
}
