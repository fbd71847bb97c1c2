using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Studio.Ml.Models.Clip;

/// <summary>Multi-head self-attention with biases on q, k, v and out, scaled by head_dim^-0.5, with an additive mask.</summary>
public sealed class ClipAttention : nn.Module
{
    readonly Linear q_proj, k_proj, v_proj, out_proj;
    readonly ClipEncoderConfig _config;

    public ClipAttention(ClipEncoderConfig config, ScalarType dtype) : base(nameof(ClipAttention))
    {
        _config = config;
        k_proj = nn.Linear(config.HiddenSize, config.HiddenSize, dtype: dtype);
        v_proj = nn.Linear(config.HiddenSize, config.HiddenSize, dtype: dtype);
        q_proj = nn.Linear(config.HiddenSize, config.HiddenSize, dtype: dtype);
        out_proj = nn.Linear(config.HiddenSize, config.HiddenSize, dtype: dtype);
        RegisterComponents();
    }

    /// <param name="mask">additive mask (causal, plus padding when given), broadcastable to [batch, heads, seq, seq]; null: none (the vision tower).</param>
    public Tensor forward(Tensor hidden, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long batch = hidden.shape[0], seq = hidden.shape[1];
        Tensor Heads(Linear proj) => proj.forward(hidden).view(batch, seq, _config.NumAttentionHeads, _config.HeadDim).transpose(1, 2);
        var dropout = training ? _config.AttentionDropout : 0.0;
        var context = F.scaled_dot_product_attention(Heads(q_proj), Heads(k_proj), Heads(v_proj), mask, dropout);
        return out_proj.forward(context.transpose(1, 2).reshape(batch, seq, _config.HiddenSize)).MoveToOuterDisposeScope();
    }
}
