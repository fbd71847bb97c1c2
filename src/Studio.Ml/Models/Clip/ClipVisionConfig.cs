using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.Clip;

/// <summary>The fields of a transformers `CLIPVisionConfig` the vision tower uses (a ViT over square patches).</summary>
public sealed record ClipVisionConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumChannels,
    int ImageSize,
    int PatchSize,
    string HiddenAct,
    double LayerNormEps,
    double AttentionDropout)
{
    /// <summary>The shape of its transformer layers.</summary>
    public ClipEncoderConfig Encoder => new(HiddenSize, IntermediateSize, NumHiddenLayers, NumAttentionHeads, HiddenAct, LayerNormEps, AttentionDropout);

    /// <summary>Patches per image side; the sequence is its square plus the class token.</summary>
    public int PatchesPerSide => ImageSize / PatchSize;

    /// <summary>Reads a CLIP vision config; missing fields default as in transformers' CLIPVisionConfig (ViT-B/32).</summary>
    public static ClipVisionConfig From(ModelConfig json)
    {
        var type = json.OptionalString("model_type");
        if (type is not (null or "clip_vision_model"))
            throw json.Invalid("model_type", $"is '{type}', not a CLIP vision config");

        int Size(string field, int fallback)
        {
            var value = json.Int(field, fallback);
            return value > 0 ? value : throw json.Invalid(field, $"must be a positive integer, found {value}");
        }

        var hidden = Size("hidden_size", 768);
        var heads = ClipEncoderConfig.Heads(json, hidden, Size("num_attention_heads", 12));
        var image = Size("image_size", 224);
        var patch = Size("patch_size", 32);
        if (image % patch != 0)
            throw json.Invalid("patch_size", $"({patch}) must divide image_size ({image})");
        var act = ClipEncoderConfig.Activation(json);
        return new ClipVisionConfig(
            HiddenSize: hidden,
            IntermediateSize: Size("intermediate_size", 3072),
            NumHiddenLayers: Size("num_hidden_layers", 12),
            NumAttentionHeads: heads,
            NumChannels: Size("num_channels", 3),
            ImageSize: image,
            PatchSize: patch,
            HiddenAct: act,
            LayerNormEps: json.Double("layer_norm_eps", 1e-5),
            AttentionDropout: json.Double("attention_dropout", 0.0));
    }
}
