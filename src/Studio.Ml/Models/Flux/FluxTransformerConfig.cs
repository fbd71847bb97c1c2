using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.Flux;

/// <summary>
/// diffusers `FluxTransformer2DModel` configuration (`transformer/config.json`); defaults are the class defaults,
/// which are FLUX.1's sizes (FLUX.1-dev sets guidance_embeds true).
/// </summary>
public sealed record FluxTransformerConfig(
    int PatchSize = 1,
    int InChannels = 64,
    int NumLayers = 19,
    int NumSingleLayers = 38,
    int AttentionHeadDim = 128,
    int NumAttentionHeads = 24,
    int JointAttentionDim = 4096,
    int PooledProjectionDim = 768,
    bool GuidanceEmbeds = false,
    int[]? AxesDimsRope = null)
{
    public IReadOnlyList<int> RopeAxes => AxesDimsRope ?? [16, 56, 56];

    /// <summary>Width of both token streams: heads * head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;

    public int OutChannels => InChannels;

    public static FluxTransformerConfig Load(string path) => From(ModelConfig.Load(path));

    public static FluxTransformerConfig From(ModelConfig json)
    {
        var config = new FluxTransformerConfig(
            json.Int("patch_size", 1),
            json.Int("in_channels", 64),
            json.Int("num_layers", 19),
            json.Int("num_single_layers", 38),
            json.Int("attention_head_dim", 128),
            json.Int("num_attention_heads", 24),
            json.Int("joint_attention_dim", 4096),
            json.Int("pooled_projection_dim", 768),
            json.Bool("guidance_embeds", false),
            json.IntArray("axes_dims_rope", [16, 56, 56]));
        foreach (var (field, value) in new[] { ("patch_size", config.PatchSize), ("in_channels", config.InChannels), ("attention_head_dim", config.AttentionHeadDim),
                     ("num_attention_heads", config.NumAttentionHeads), ("joint_attention_dim", config.JointAttentionDim), ("pooled_projection_dim", config.PooledProjectionDim) })
            if (value < 1) throw json.Invalid(field, $"must be positive, found {value}");
        if (config.NumLayers < 0) throw json.Invalid("num_layers", $"must not be negative, found {config.NumLayers}");
        if (config.NumSingleLayers < 0) throw json.Invalid("num_single_layers", $"must not be negative, found {config.NumSingleLayers}");
        if (config.RopeAxes.Count == 0 || config.RopeAxes.Any(d => d < 2 || d % 2 != 0))
            throw json.Invalid("axes_dims_rope", $"must be even widths, found [{string.Join(", ", config.RopeAxes)}]");
        if (config.RopeAxes.Sum() != config.AttentionHeadDim)
            throw json.Invalid("axes_dims_rope", $"must add up to attention_head_dim {config.AttentionHeadDim}, found [{string.Join(", ", config.RopeAxes)}]");
        return config;
    }
}
