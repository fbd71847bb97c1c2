using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.Clip;

/// <summary>
/// The fields of a transformers `CLIPTextConfig` the text tower uses. `EosTokenId` decides the pooling rule:
/// 2 (the legacy CLIP-L config) pools at argmax(input_ids), anything else at the first `eos_token_id`.
/// `HasProjection` is true for `CLIPTextModelWithProjection` (SD3's text encoders), which adds `text_projection`.
/// </summary>
public sealed record ClipTextConfig(
    int VocabSize,
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int MaxPositionEmbeddings,
    int ProjectionDim,
    string HiddenAct,
    double LayerNormEps,
    double AttentionDropout,
    long EosTokenId,
    bool HasProjection)
{
    /// <summary>The shape of its transformer layers.</summary>
    public ClipEncoderConfig Encoder => new(HiddenSize, IntermediateSize, NumHiddenLayers, NumAttentionHeads, HiddenAct, LayerNormEps, AttentionDropout);

    public static ClipTextConfig Load(string path) => From(ModelConfig.Load(path));

    /// <summary>Reads a CLIP text config; the sizes are required, the rest default as in transformers' CLIPTextConfig.</summary>
    public static ClipTextConfig From(ModelConfig json)
    {
        var type = json.OptionalString("model_type");
        if (type == "clip")
            throw json.Invalid("model_type", "is 'clip' (a full CLIP model); point at a text encoder folder (model_type 'clip_text_model')");
        if (type is not (null or "clip_text_model"))
            throw json.Invalid("model_type", $"is '{type}', not a CLIP text config");

        int Size(string field, int? fallback = null)
        {
            var value = fallback is { } f ? json.Int(field, f) : json.Int(field);
            return value > 0 ? value : throw json.Invalid(field, $"must be a positive integer, found {value}");
        }

        var hidden = Size("hidden_size");
        var heads = ClipEncoderConfig.Heads(json, hidden, Size("num_attention_heads"));
        var act = ClipEncoderConfig.Activation(json);
        var architectures = json.Has("architectures") ? json.StringArray("architectures") : [];

        return new ClipTextConfig(
            VocabSize: Size("vocab_size"),
            HiddenSize: hidden,
            IntermediateSize: Size("intermediate_size"),
            NumHiddenLayers: Size("num_hidden_layers"),
            NumAttentionHeads: heads,
            MaxPositionEmbeddings: Size("max_position_embeddings", 77),
            ProjectionDim: Size("projection_dim", 512),
            HiddenAct: act,
            LayerNormEps: json.Double("layer_norm_eps", 1e-5),
            AttentionDropout: json.Double("attention_dropout", 0.0),
            EosTokenId: json.Int("eos_token_id", 49407),
            HasProjection: architectures.Contains("CLIPTextModelWithProjection"));
    }
}
