using Studio.Ml.Models.Common;
using Studio.Ml.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Vae;

/// <summary>
/// diffusers `AutoencoderKL`: the image VAE of FLUX.1, SD3 and SD. Parameter names are diffusers', so a `vae/` folder
/// loads by name. Computes in the dtype of its parameters (float32, or bf16 after `to(ScalarType.BFloat16)`).
/// </summary>
public sealed class AutoencoderKL : Module
{
    readonly VaeEncoder encoder;
    readonly VaeDecoder decoder;
    readonly GuardedConv2d? quant_conv;
    readonly GuardedConv2d? post_quant_conv;

    public AutoencoderKLConfig Config { get; }

    public AutoencoderKL(AutoencoderKLConfig config) : base(nameof(AutoencoderKL))
    {
        Config = config;
        encoder = new VaeEncoder(config);
        decoder = new VaeDecoder(config);
        quant_conv = config.UseQuantConv ? new GuardedConv2d(2 * config.LatentChannels, 2 * config.LatentChannels, 1) : null;
        post_quant_conv = config.UsePostQuantConv ? new GuardedConv2d(config.LatentChannels, config.LatentChannels, 1) : null;
        RegisterComponents();
    }

    /// <summary>Builds the VAE of a diffusers folder (`config.json` + `diffusion_pytorch_model*.safetensors`) in the given dtype.</summary>
    public static AutoencoderKL FromPretrained(string folder, ScalarType dtype = ScalarType.Float32)
    {
        var vae = new AutoencoderKL(AutoencoderKLConfig.Load(Path.Combine(folder, "config.json")));
        vae.to(dtype);
        using var checkpoint = Checkpoint.Open(folder);
        vae.Load(checkpoint);
        vae.eval();
        return vae;
    }

    /// <summary>
    /// Loads weights by diffusers name (strict). Checkpoints saved before diffusers 0.14 name the mid-block attention
    /// `query`/`key`/`value`/`proj_attn`; those names are accepted too.
    /// </summary>
    public LoadReport Load(Checkpoint checkpoint) => ModuleLoader.Load(this, checkpoint, candidates: name =>
        [name, name.Replace(".to_q.", ".query.").Replace(".to_k.", ".key.").Replace(".to_v.", ".value.").Replace(".to_out.0.", ".proj_attn.")]);

    public ScalarType DType => decoder.parameters().First().dtype;
    public Device Device => decoder.parameters().First().device;

    /// <summary>The posterior of the image latents; images are (B, C, H, W) in [-1, 1].</summary>
    public LatentDistribution Encode(Tensor image)
    {
        using var scope = NewDisposeScope();
        var moments = encoder.forward(image.to(DType, Device));
        if (quant_conv is not null) moments = quant_conv.forward(moments);
        var parts = moments.chunk(2, dim: 1);
        var mean = parts[0].MoveToOuterDisposeScope();
        var logVar = parts[1].clamp(-30.0, 20.0).MoveToOuterDisposeScope();
        return new LatentDistribution(mean, logVar);
    }

    /// <summary>
    /// Decodes latents as the VAE sees them (a pipeline first undoes the scaling: see <see cref="UnscaleLatents"/>)
    /// into images in about [-1, 1].
    /// </summary>
    public Tensor Decode(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var z = latents.to(DType, Device);
        if (post_quant_conv is not null) z = post_quant_conv.forward(z);
        return decoder.forward(z).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Decodes in overlapping tiles of <paramref name="tileSampleSize"/> pixels, blending each tile into its upper and
    /// left neighbours over a quarter tile, exactly as diffusers' `tiled_decode` (same tile grid, same in-place blend
    /// order), so memory stays bounded for big images. Latents that fit one tile decode in one piece.
    /// </summary>
    public Tensor DecodeTiled(Tensor latents, int tileSampleSize, double overlapFactor = 0.25)
    {
        var tileLatentSize = tileSampleSize / Config.DownscaleFactor;
        if (tileLatentSize < 1) throw new ArgumentOutOfRangeException(nameof(tileSampleSize), $"{tileSampleSize} is smaller than one latent pixel ({Config.DownscaleFactor} pixels)");
        if (latents.shape[^1] <= tileLatentSize && latents.shape[^2] <= tileLatentSize) return Decode(latents);

        var stride = (int)(tileLatentSize * (1 - overlapFactor));
        var blendExtent = (int)(tileSampleSize * overlapFactor);
        var rowLimit = tileSampleSize - blendExtent;
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(overlapFactor), $"{overlapFactor} leaves no stride between tiles of {tileLatentSize} latents");

        using var scope = NewDisposeScope();
        var (height, width) = ((int)latents.shape[^2], (int)latents.shape[^1]);
        var rows = new List<List<Tensor>>();
        for (var i = 0; i < height; i += stride)
        {
            var row = new List<Tensor>();
            for (var j = 0; j < width; j += stride)
            {
                var tile = latents.narrow(2, i, Math.Min(tileLatentSize, height - i)).narrow(3, j, Math.Min(tileLatentSize, width - j));
                row.Add(Decode(tile));
            }
            rows.Add(row);
        }
        // Tiles are blended in place, in diffusers' order: a tile blends with neighbours that were already blended.
        var resultRows = new List<Tensor>();
        for (var i = 0; i < rows.Count; i++)
        {
            var pieces = new List<Tensor>();
            for (var j = 0; j < rows[i].Count; j++)
            {
                var tile = rows[i][j];
                if (i > 0) BlendInto(rows[i - 1][j], tile, blendExtent, dim: 2);
                if (j > 0) BlendInto(rows[i][j - 1], tile, blendExtent, dim: 3);
                pieces.Add(tile.narrow(2, 0, Math.Min(rowLimit, tile.shape[2])).narrow(3, 0, Math.Min(rowLimit, tile.shape[3])));
            }
            resultRows.Add(cat(pieces, dim: 3));
        }
        return cat(resultRows, dim: 2).MoveToOuterDisposeScope();
    }

    /// <summary>Cross-fades the last rows (dim 2) or columns (dim 3) of <paramref name="before"/> into the first ones of <paramref name="tile"/>.</summary>
    static void BlendInto(Tensor before, Tensor tile, int blendExtent, int dim)
    {
        var extent = (int)Math.Min(Math.Min(before.shape[dim], tile.shape[dim]), blendExtent);
        if (extent == 0) return;
        using var scope = NewDisposeScope();
        var shape = new long[] { 1, 1, 1, 1 };
        shape[dim] = extent;
        var weight = (arange(extent, ScalarType.Float64, tile.device) / extent).to_type(tile.dtype).view(shape);
        var head = tile.narrow(dim, 0, extent);
        head.copy_(before.narrow(dim, before.shape[dim] - extent, extent) * (1 - weight) + head * weight);
    }

    /// <summary>Model-space latents (what the transformer denoises) to VAE latents: z / scaling_factor + shift_factor.</summary>
    public Tensor UnscaleLatents(Tensor latents) => latents / Config.ScalingFactor + Config.ShiftFactor;

    /// <summary>VAE latents to model space: (z - shift_factor) * scaling_factor.</summary>
    public Tensor ScaleLatents(Tensor latents) => (latents - Config.ShiftFactor) * Config.ScalingFactor;
}

/// <summary>diffusers `DiagonalGaussianDistribution`: the VAE posterior per latent element.</summary>
public sealed class LatentDistribution(Tensor mean, Tensor logVar) : IDisposable
{
    public Tensor Mean { get; } = mean;
    /// <summary>Log-variance, clamped to [-30, 20] as diffusers does.</summary>
    public Tensor LogVar { get; } = logVar;

    /// <summary>
    /// mean + exp(logvar / 2) * N(0, 1); the noise is drawn on the generator's device (a seeded CPU generator gives the
    /// same noise whatever device the latents are on), then moved to the latents'.
    /// </summary>
    public Tensor Sample(Generator? generator = null)
    {
        using var std = (LogVar * 0.5).exp_();
        using var drawn = randn(Mean.shape, dtype: Mean.dtype, device: generator?.device ?? Mean.device, generator: generator);
        using var noise = drawn.device_type == Mean.device_type && drawn.device_index == Mean.device_index ? drawn.alias() : drawn.to(Mean.device);
        return Mean + std * noise;
    }

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
    }
}
