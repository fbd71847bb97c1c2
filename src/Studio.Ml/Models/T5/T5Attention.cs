using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using Studio.Ml.Models.Common;

namespace Studio.Ml.Models.T5;

/// <summary>
/// T5 self-attention: q, k, v, o without biases, scores q·k without the 1/sqrt(d_kv) scaling, plus an additive
/// position bias (and mask). Only the first block owns `relative_attention_bias` and computes the bias for all blocks.
/// </summary>
public sealed class T5Attention : nn.Module
{
    readonly Linear q, k, v, o;
    readonly Embedding? relative_attention_bias;
    /// <summary>On the attention weights (transformers applies it functionally, with the config's dropout_rate).</summary>
    readonly SeededDropout dropout;
    readonly T5Config _config;

    public T5Attention(T5Config config, bool hasRelativeAttentionBias, ScalarType dtype) : base(nameof(T5Attention))
    {
        _config = config;
        q = nn.Linear(config.DModel, config.InnerDim, hasBias: false, dtype: dtype);
        k = nn.Linear(config.DModel, config.InnerDim, hasBias: false, dtype: dtype);
        v = nn.Linear(config.DModel, config.InnerDim, hasBias: false, dtype: dtype);
        o = nn.Linear(config.InnerDim, config.DModel, hasBias: false, dtype: dtype);
        dropout = new SeededDropout(config.DropoutRate);
        if (hasRelativeAttentionBias) relative_attention_bias = nn.Embedding(config.RelativeAttentionNumBuckets, config.NumHeads, dtype: dtype);
        RegisterComponents();
    }

    /// <param name="hidden">[batch, seq, d_model]</param>
    /// <param name="bias">position bias plus mask, [1 or batch, heads, seq, seq], in the dtype of the hidden states.</param>
    public Tensor forward(Tensor hidden, Tensor bias)
    {
        using var scope = NewDisposeScope();
        long batch = hidden.shape[0], seq = hidden.shape[1];
        Tensor Heads(Linear proj) => proj.forward(hidden).view(batch, seq, _config.NumHeads, _config.DKv).transpose(1, 2);
        // Explicit rather than scaled_dot_product_attention: as fast in float32 and faster in bf16 on this CPU, and
        // it is transformers' computation as written (scores in the model dtype, softmax in float32).
        var scores = Heads(q).matmul(Heads(k).transpose(2, 3)) + bias;
        var weights = dropout.forward(scores.to(ScalarType.Float32).softmax(-1).to(scores.dtype));
        var context = weights.matmul(Heads(v));
        var merged = context.transpose(1, 2).reshape(batch, seq, _config.InnerDim);
        return o.forward(merged).MoveToOuterDisposeScope();
    }

    /// <summary>The learned bias of each (query, key) pair by relative-position bucket: [1, heads, seq, seq].</summary>
    public Tensor ComputeBias(long seq)
    {
        if (relative_attention_bias is null) throw new InvalidOperationException("only the first T5 block has relative_attention_bias");
        using var scope = NewDisposeScope();
        var device = relative_attention_bias.weight!.device;
        var queryPosition = torch.arange(seq, dtype: ScalarType.Int64, device: device).unsqueeze(1);
        var keyPosition = torch.arange(seq, dtype: ScalarType.Int64, device: device).unsqueeze(0);
        var buckets = RelativePositionBucket(keyPosition - queryPosition, _config.RelativeAttentionNumBuckets, _config.RelativeAttentionMaxDistance);
        var values = relative_attention_bias.forward(buckets); // [seq, seq, heads]
        return values.permute(2, 0, 1).unsqueeze(0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Bidirectional buckets as in Mesh TensorFlow / transformers: half the buckets per direction; in each half, exact
    /// buckets for small distances and logarithmically wider ones up to max_distance (computed in float32 like the reference).
    /// </summary>
    public static Tensor RelativePositionBucket(Tensor relativePosition, int numBuckets, int maxDistance)
    {
        using var scope = NewDisposeScope();
        var half = numBuckets / 2;
        var buckets = (relativePosition > 0).to(ScalarType.Int64) * half;
        var distance = relativePosition.abs();
        var maxExact = half / 2;
        var isSmall = distance < maxExact;
        // Distances below max_exact take the other branch; clamping keeps log() finite there.
        var scaled = torch.log(distance.clamp_min(1).to(ScalarType.Float32) / maxExact) / Math.Log((double)maxDistance / maxExact) * (half - maxExact);
        var large = (maxExact + scaled.to(ScalarType.Int64)).clamp_max(half - 1);
        return (buckets + torch.where(isSmall, distance, large)).MoveToOuterDisposeScope();
    }
}
