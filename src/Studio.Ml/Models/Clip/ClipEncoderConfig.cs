using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.Clip;

/// <summary>
/// The shape of CLIP's transformer layers, which the text and the vision tower share (transformers' `CLIPEncoder`
/// reads these fields from either tower's config).
/// </summary>
public sealed record ClipEncoderConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    string HiddenAct,
    double LayerNormEps,
    double AttentionDropout)
{
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>A tower config's heads, checked to divide its hidden size (either tower's rule).</summary>
    public static int Heads(ModelConfig json, int hidden, int heads) => hidden % heads == 0 ? heads
        : throw json.Invalid("num_attention_heads", $"({heads}) must divide hidden_size ({hidden})");

    /// <summary>A tower config's hidden_act (quick_gelu when absent), checked to be one the layers know.</summary>
    public static string Activation(ModelConfig json)
    {
        var act = json.OptionalString("hidden_act") ?? "quick_gelu";
        return Activations.IsKnown(act) ? act : throw json.Invalid("hidden_act", $"is '{act}', not one of {string.Join(", ", Activations.Names)}");
    }
}
