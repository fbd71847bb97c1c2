using Studio.Ml.Models.Common;

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
    public int InnerDim => NumHeads * DKv;

    public static T5Config Load(string path) => From(ModelConfig.Load(path));

    /// <summary>Reads a T5 config; the sizes are required, the rest default as in transformers' T5Config.</summary>
    public static T5Config From(ModelConfig json)
    {
        if (json.OptionalString("model_type") is { } type && type is not ("t5" or "umt5"))
            throw json.Invalid("model_type", $"is '{type}', not a T5 config");

        int Size(string field, int? fallback = null)
        {
            var value = fallback is { } f ? json.Int(field, f) : json.Int(field);
            return value > 0 ? value : throw json.Invalid(field, $"must be a positive integer, found {value}");
        }
        double NonNegative(string field, double fallback)
        {
            var value = json.Double(field, fallback);
            return value >= 0 ? value : throw json.Invalid(field, $"must not be negative, found {value}");
        }

        var proj = json.OptionalString("feed_forward_proj") ?? "relu";
        // As transformers: "ACT" or "gated-ACT"; "gated-gelu" means the tanh approximation for backward compatibility.
        var parts = proj.Split('-');
        var gated = parts.Length == 2 && parts[0] == "gated";
        if (parts.Length > 2 || (parts.Length == 2 && !gated))
            throw json.Invalid("feed_forward_proj", $"is '{proj}'; expected 'ACT' or 'gated-ACT', e.g. 'relu' or 'gated-gelu'");
        var act = proj == "gated-gelu" ? "gelu_new" : parts[^1];
        if (!Activations.IsKnown(act))
            throw json.Invalid("feed_forward_proj", $"is '{proj}'; activation '{act}' is not one of {string.Join(", ", Activations.Names)}");

        return new T5Config(
            VocabSize: Size("vocab_size"),
            DModel: Size("d_model"),
            DKv: Size("d_kv"),
            NumHeads: Size("num_heads"),
            DFf: Size("d_ff"),
            NumLayers: Size("num_layers"),
            RelativeAttentionNumBuckets: Size("relative_attention_num_buckets", 32),
            RelativeAttentionMaxDistance: Size("relative_attention_max_distance", 128),
            LayerNormEpsilon: NonNegative("layer_norm_epsilon", 1e-6),
            DropoutRate: NonNegative("dropout_rate", 0.1),
            DenseActFn: act,
            IsGatedAct: gated);
    }
}
