using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.Sd3;

/// <summary>
/// The config.json of diffusers `SD3Transformer2DModel`: SD3-medium (no dual attention, no q/k norm) and SD3.5
/// (`dual_attention_layers`, `qk_norm` "rms_norm").
/// </summary>
public sealed record Sd3TransformerConfig(
    int SampleSize,
    int PatchSize,
    int InChannels,
    int NumLayers,
    int AttentionHeadDim,
    int NumAttentionHeads,
    int JointAttentionDim,
    int CaptionProjectionDim,
    int PooledProjectionDim,
    int OutChannels,
    int PosEmbedMaxSize,
    int[] DualAttentionLayers,
    bool QkRmsNorm)
{
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;

    public static Sd3TransformerConfig Load(string path) => Parse(ModelConfig.Load(path));

    /// <summary>Reads the fields of `SD3Transformer2DModel.__init__` with diffusers' defaults, and rejects what it cannot build.</summary>
    public static Sd3TransformerConfig Parse(ModelConfig c)
    {
        if (c.OptionalString("_class_name") is { } cls && cls != "SD3Transformer2DModel")
            throw c.Invalid("_class_name", $"is '{cls}', expected 'SD3Transformer2DModel'");
        var qkNorm = c.OptionalString("qk_norm");
        if (qkNorm is not (null or "rms_norm"))
            throw c.Invalid("qk_norm", $"is '{qkNorm}'; supported: null (SD3) and 'rms_norm' (SD3.5)");
        if (!c.Has("pos_embed_max_size"))
            throw c.Invalid("pos_embed_max_size", "is null; SD3 crops its positional table from a pos_embed_max_size grid, so it must be set");
        var inChannels = c.Int("in_channels", 16);
        var config = new Sd3TransformerConfig(
            SampleSize: c.Int("sample_size", 128),
            PatchSize: c.Int("patch_size", 2),
            InChannels: inChannels,
            NumLayers: c.Int("num_layers", 18),
            AttentionHeadDim: c.Int("attention_head_dim", 64),
            NumAttentionHeads: c.Int("num_attention_heads", 18),
            JointAttentionDim: c.Int("joint_attention_dim", 4096),
            CaptionProjectionDim: c.Int("caption_projection_dim", 1152),
            PooledProjectionDim: c.Int("pooled_projection_dim", 2048),
            OutChannels: c.Has("out_channels") ? c.Int("out_channels") : inChannels,
            PosEmbedMaxSize: c.Int("pos_embed_max_size"),
            DualAttentionLayers: c.IntArray("dual_attention_layers", []),
            QkRmsNorm: qkNorm == "rms_norm");
        foreach (var (field, value) in new[] { ("sample_size", config.SampleSize), ("patch_size", config.PatchSize),
                     ("in_channels", config.InChannels), ("num_layers", config.NumLayers), ("attention_head_dim", config.AttentionHeadDim),
                     ("num_attention_heads", config.NumAttentionHeads), ("joint_attention_dim", config.JointAttentionDim),
                     ("pooled_projection_dim", config.PooledProjectionDim), ("out_channels", config.OutChannels),
                     ("pos_embed_max_size", config.PosEmbedMaxSize) })
            if (value <= 0) throw c.Invalid(field, $"must be positive, found {value}");
        // The joint blocks add the projected context to streams of the transformer's width.
        if (config.CaptionProjectionDim != config.InnerDim)
            throw c.Invalid("caption_projection_dim", $"is {config.CaptionProjectionDim}; it must equal num_attention_heads * attention_head_dim = {config.InnerDim}");
        if (config.InnerDim % 4 != 0)
            throw c.Invalid("attention_head_dim", $"gives a width of {config.InnerDim}; the 2-D sin-cos positions need a multiple of 4");
        if (config.DualAttentionLayers.Any(i => i < 0 || i >= config.NumLayers))
            throw c.Invalid("dual_attention_layers", $"lists a layer outside 0..{config.NumLayers - 1}: [{string.Join(", ", config.DualAttentionLayers)}]");
        return config;
    }
}
