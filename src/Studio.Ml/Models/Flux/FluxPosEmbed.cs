using Studio.Ml.Models.Common;
using static TorchSharp.torch;

namespace Studio.Ml.Models.Flux;

/// <summary>
/// diffusers `FluxPosEmbed`: 3-axis rotary positions. Each id column i (0: unused/text, 1: row, 2: column) gets
/// axes_dims_rope[i] channels of frequencies theta^(-2k/dim); angles are computed in float64, cosines and sines
/// repeated per interleaved channel pair and stored as float32, then the axes are concatenated to head_dim.
/// </summary>
public sealed class FluxPosEmbed(IReadOnlyList<int> axesDims, double theta = 10000)
{
    /// <param name="ids">Position ids (tokens, axes): the text ids then the image ids, as the model concatenates them.</param>
    public RotaryEmbedding Forward(Tensor ids)
    {
        if (ids.dim() != 2 || ids.shape[1] != axesDims.Count)
            throw new ArgumentException($"position ids must be (tokens, {axesDims.Count}), got [{string.Join(", ", ids.shape)}]", nameof(ids));
        using var scope = NewDisposeScope();
        var positions = ids.to_type(ScalarType.Float32).to_type(ScalarType.Float64);
        var cosines = new List<Tensor>();
        var sines = new List<Tensor>();
        for (int axis = 0; axis < axesDims.Count; axis++)
        {
            var dim = axesDims[axis];
            var exponents = arange(0, dim, 2, dtype: ScalarType.Float64, device: ids.device) / dim;
            var frequencies = 1.0 / tensor(theta, ScalarType.Float64, ids.device).pow(exponents);
            var angles = outer(positions[.., axis], frequencies);
            cosines.Add(angles.cos().repeat_interleave(2, dim: 1).to_type(ScalarType.Float32));
            sines.Add(angles.sin().repeat_interleave(2, dim: 1).to_type(ScalarType.Float32));
        }
        return new RotaryEmbedding(cat(cosines, -1).MoveToOuterDisposeScope(), cat(sines, -1).MoveToOuterDisposeScope());
    }
}
