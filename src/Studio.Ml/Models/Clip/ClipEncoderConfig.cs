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
}
