using Studio.Ml.Models.Common;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Sd3;

/// <summary>
/// diffusers `PatchEmbed` as SD3 uses it: a patch_size-strided conv turns latents (B, C, H, W) into (B, H/p * W/p,
/// dim) tokens, plus the 2-D sin-cos position of each patch taken from the centre of a pos_embed_max_size grid (the
/// persistent buffer `pos_embed`, stored in checkpoints; built here the same way for a freshly made model).
/// </summary>
public sealed class PatchEmbed : Module<Tensor, Tensor>
{
    readonly long _patchSize;
    readonly long _maxSize;
    readonly GuardedConv2d proj;
    readonly Tensor pos_embed;

    public PatchEmbed(long inChannels, long embedDim, long patchSize, long posEmbedMaxSize, long sampleSize) : base(nameof(PatchEmbed))
    {
        _patchSize = patchSize;
        _maxSize = posEmbedMaxSize;
        proj = new GuardedConv2d(inChannels, embedDim, patchSize, stride: patchSize);
        pos_embed = SinCosTable(embedDim, posEmbedMaxSize, baseSize: sampleSize / patchSize).unsqueeze(0);
        RegisterComponents();
    }

    public override Tensor forward(Tensor latents)
    {
        var (height, width) = (latents.shape[^2] / _patchSize, latents.shape[^1] / _patchSize);
        if (height > _maxSize || width > _maxSize)
            throw new ArgumentException($"latents of {latents.shape[^2]}x{latents.shape[^1]} make a {height}x{width} patch grid, " +
                $"larger than pos_embed_max_size {_maxSize}", nameof(latents));
        using var scope = NewDisposeScope();
        var tokens = proj.forward(latents).flatten(2).transpose(1, 2);
        return (tokens + CroppedPositions(height, width).to_type(tokens.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>The centred height x width window of the table, as (1, height*width, dim), row-major.</summary>
    Tensor CroppedPositions(long height, long width)
    {
        var top = (_maxSize - height) / 2;
        var left = (_maxSize - width) / 2;
        return pos_embed.view(1, _maxSize, _maxSize, -1)
            .narrow(1, top, height).narrow(2, left, width)
            .reshape(1, height * width, -1);
    }

    /// <summary>
    /// diffusers `get_2d_sincos_pos_embed(dim, gridSize, base_size)`: for the patch at (row, col) of a gridSize^2 grid,
    /// positions are scaled by baseSize / gridSize; the first dim/2 channels encode the column, the last dim/2 the row,
    /// each as [sin(pos * w_i), cos(pos * w_i)] with w_i = 10000^(-i / (dim/4)). Computed in float64, returned as float32
    /// (gridSize^2, dim).
    /// </summary>
    public static Tensor SinCosTable(long dim, long gridSize, long baseSize)
    {
        using var scope = NewDisposeScope();
        // float32 grid as diffusers builds it, then float64 frequencies.
        var coordinates = arange(gridSize, dtype: ScalarType.Float32) / (float)((double)gridSize / baseSize);
        var omega = 1.0 / pow(10000.0, arange(dim / 4, dtype: ScalarType.Float64) / (dim / 4.0));
        var angles = outer(coordinates.to_type(ScalarType.Float64), omega);            // (gridSize, dim/4)
        var oneAxis = cat([sin(angles), cos(angles)], 1);                               // (gridSize, dim/2)
        var columns = oneAxis.unsqueeze(0).expand(gridSize, gridSize, dim / 2);         // [row, col] -> embedding of col
        var rows = oneAxis.unsqueeze(1).expand(gridSize, gridSize, dim / 2);            // [row, col] -> embedding of row
        return cat([columns, rows], 2).reshape(gridSize * gridSize, dim).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }
}
