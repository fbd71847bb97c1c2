using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.Vae;

/// <summary>
/// The config.json of a diffusers `AutoencoderKL`: the FLUX and SD3 VAEs (16 latent channels, no quant convs, a
/// shift factor) and the classic SD VAE (4 latent channels, quant convs) share this structure.
/// </summary>
public sealed record AutoencoderKLConfig(
    int InChannels,
    int OutChannels,
    int[] BlockOutChannels,
    int LayersPerBlock,
    int LatentChannels,
    int NormNumGroups,
    int SampleSize,
    double ScalingFactor,
    double ShiftFactor,
    bool UseQuantConv,
    bool UsePostQuantConv,
    bool MidBlockAddAttention)
{
    /// <summary>How much smaller the latent grid is than the image (8 for every released VAE).</summary>
    public int DownscaleFactor => 1 << (BlockOutChannels.Length - 1);

    public static AutoencoderKLConfig Load(string path) => Parse(ModelConfig.Load(path));

    /// <summary>Reads the fields diffusers' `AutoencoderKL.__init__` takes, with its defaults, and rejects what it cannot build.</summary>
    public static AutoencoderKLConfig Parse(ModelConfig c)
    {
        if (c.OptionalString("_class_name") is { } cls && cls != "AutoencoderKL")
            throw c.Invalid("_class_name", $"is '{cls}', expected 'AutoencoderKL'");
        var blocks = c.IntArray("block_out_channels", [64]);
        if (blocks.Length == 0) throw c.Invalid("block_out_channels", "is empty");
        var down = c.StringArray("down_block_types");
        var up = c.StringArray("up_block_types");
        if (down.Length != blocks.Length || down.Any(t => t != "DownEncoderBlock2D"))
            throw c.Invalid("down_block_types", $"must list {blocks.Length} 'DownEncoderBlock2D' (one per block_out_channels entry), found [{string.Join(", ", down)}]");
        if (up.Length != blocks.Length || up.Any(t => t != "UpDecoderBlock2D"))
            throw c.Invalid("up_block_types", $"must list {blocks.Length} 'UpDecoderBlock2D' (one per block_out_channels entry), found [{string.Join(", ", up)}]");
        var act = c.OptionalString("act_fn") ?? "silu";
        if (act is not ("silu" or "swish")) throw c.Invalid("act_fn", $"is '{act}'; only 'silu' (alias 'swish') is supported");
        var groups = c.Int("norm_num_groups", 32);
        if (groups <= 0 || blocks.Any(b => b <= 0 || b % groups != 0))
            throw c.Invalid("norm_num_groups", $"is {groups}; every block_out_channels entry [{string.Join(", ", blocks)}] must be a positive multiple of it");
        var config = new AutoencoderKLConfig(
            InChannels: c.Int("in_channels", 3),
            OutChannels: c.Int("out_channels", 3),
            BlockOutChannels: blocks,
            LayersPerBlock: c.Int("layers_per_block", 1),
            LatentChannels: c.Int("latent_channels", 4),
            NormNumGroups: groups,
            SampleSize: c.Int("sample_size", 32),
            ScalingFactor: c.Double("scaling_factor", 0.18215),
            ShiftFactor: c.OptionalDouble("shift_factor") ?? 0.0,
            UseQuantConv: c.Bool("use_quant_conv", true),
            UsePostQuantConv: c.Bool("use_post_quant_conv", true),
            MidBlockAddAttention: c.Bool("mid_block_add_attention", true));
        foreach (var (field, value) in new[] { ("in_channels", config.InChannels), ("out_channels", config.OutChannels),
                     ("layers_per_block", config.LayersPerBlock), ("latent_channels", config.LatentChannels), ("sample_size", config.SampleSize) })
            if (value <= 0) throw c.Invalid(field, $"must be positive, found {value}");
        if (config.ScalingFactor == 0) throw c.Invalid("scaling_factor", "must not be 0");
        return config;
    }
}
