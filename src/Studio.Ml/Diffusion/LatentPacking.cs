using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>
/// FluxPipeline's latent layout: VAE latents (B, C, H, W) become a sequence of 2x2 patches, one token of C*4 values
/// per patch in row-major order, and each token has the position id [0, row, col] that the transformer's RoPE reads.
/// </summary>
public static class LatentPacking
{
    /// <summary>(B, C, H, W) -> (B, (H/2)*(W/2), C*4), each token ordered channel-major then (dy, dx).</summary>
    public static Tensor Pack(Tensor latents)
    {
        if (latents.dim() != 4) throw new ArgumentException($"latents must be (batch, channels, height, width), got [{string.Join(", ", latents.shape)}]", nameof(latents));
        var (b, c, h, w) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3]);
        if (h % 2 != 0 || w % 2 != 0) throw new ArgumentException($"latent height and width must be even to pack 2x2 patches, got {h}x{w}", nameof(latents));
        using var patches = latents.view(b, c, h / 2, 2, w / 2, 2);
        using var ordered = patches.permute(0, 2, 4, 1, 3, 5);
        return ordered.reshape(b, h / 2 * (w / 2), c * 4);
    }

    /// <summary>The inverse of <see cref="Pack"/>: (B, (H/2)*(W/2), C*4) -> (B, C, H, W) for latent height H and width W.</summary>
    public static Tensor Unpack(Tensor packed, long latentHeight, long latentWidth)
    {
        if (packed.dim() != 3) throw new ArgumentException($"packed latents must be (batch, tokens, channels*4), got [{string.Join(", ", packed.shape)}]", nameof(packed));
        if (latentHeight % 2 != 0 || latentWidth % 2 != 0) throw new ArgumentException($"latent height and width must be even, got {latentHeight}x{latentWidth}");
        var (b, tokens, width) = (packed.shape[0], packed.shape[1], packed.shape[2]);
        if (tokens != latentHeight / 2 * (latentWidth / 2))
            throw new ArgumentException($"{tokens} tokens do not make a {latentHeight / 2}x{latentWidth / 2} patch grid (latents {latentHeight}x{latentWidth})", nameof(packed));
        if (width % 4 != 0) throw new ArgumentException($"token width {width} is not a multiple of 4 (2x2 patches)", nameof(packed));
        using var patches = packed.view(b, latentHeight / 2, latentWidth / 2, width / 4, 2, 2);
        using var ordered = patches.permute(0, 3, 1, 4, 2, 5);
        return ordered.reshape(b, width / 4, latentHeight, latentWidth);
    }

    /// <summary>Position ids of a packed grid of gridHeight x gridWidth tokens: row r*gridWidth+c is [0, r, c], on <paramref name="device"/> (default: the CPU).</summary>
    public static Tensor ImageIds(long gridHeight, long gridWidth, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        if (gridHeight < 1 || gridWidth < 1) throw new ArgumentException($"the patch grid must be at least 1x1, got {gridHeight}x{gridWidth}");
        using var scope = NewDisposeScope();
        var rows = arange(gridHeight, dtype: dtype, device: device).view(-1, 1).expand(gridHeight, gridWidth);
        var cols = arange(gridWidth, dtype: dtype, device: device).view(1, -1).expand(gridHeight, gridWidth);
        return stack([zeros(gridHeight, gridWidth, dtype: dtype, device: device), rows, cols], dim: -1)
            .reshape(gridHeight * gridWidth, 3).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The inverse of <see cref="ImageIds"/>: the patch grid (rows, columns) that a set of image ids describes.
    /// Throws when the ids are not exactly such a grid.
    /// </summary>
    public static (long GridHeight, long GridWidth) GridOf(Tensor imageIds)
    {
        if (imageIds.dim() != 2 || imageIds.shape[1] != 3 || imageIds.shape[0] == 0)
            throw new ArgumentException($"image ids must be (tokens, 3), got [{string.Join(", ", imageIds.shape)}]", nameof(imageIds));
        using var scope = NewDisposeScope();
        var ids = imageIds.to_type(ScalarType.Float32);
        var height = (long)ids[.., 1].max().item<float>() + 1;
        var width = (long)ids[.., 2].max().item<float>() + 1;
        if (height * width != ids.shape[0] || !ImageIds(height, width, device: ids.device).eq(ids).all().item<bool>())
            throw new ArgumentException($"the {imageIds.shape[0]} image ids are not a row-major [0, row, col] grid", nameof(imageIds));
        return (height, width);
    }

    /// <summary>Text position ids: all zeros, one row per text token, on <paramref name="device"/> (default: the CPU).</summary>
    public static Tensor TextIds(long tokens, ScalarType dtype = ScalarType.Float32, Device? device = null) => zeros(tokens, 3, dtype: dtype, device: device);
}
