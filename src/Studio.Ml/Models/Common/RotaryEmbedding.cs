using static TorchSharp.torch;

namespace Studio.Ml.Models.Common;

/// <summary>
/// Rotary position tables, (tokens, head_dim) cosines and sines with each frequency repeated for an interleaved pair
/// of channels, and diffusers' `apply_rotary_emb(use_real=True, use_real_unbind_dim=-1)`: channel pairs (x0, x1) are
/// rotated to (x0 cos - x1 sin, x1 cos + x0 sin), computed in float32.
/// </summary>
public sealed class RotaryEmbedding(Tensor cos, Tensor sin) : IDisposable
{
    public Tensor Cos { get; } = cos;
    public Tensor Sin { get; } = sin;

    /// <summary>Rotates queries or keys shaped (batch, heads, tokens, head_dim).</summary>
    public Tensor Apply(Tensor x)
    {
        using var scope = NewDisposeScope();
        var pairs = x.reshape([.. x.shape[..^1], -1, 2]).unbind(-1);
        var (real, imaginary) = (pairs[0], pairs[1]);
        var rotated = stack([-imaginary, real], -1).flatten(3);
        var result = x.to_type(ScalarType.Float32) * Cos + rotated.to_type(ScalarType.Float32) * Sin;
        return result.to_type(x.dtype).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Cos.Dispose();
        Sin.Dispose();
    }
}
