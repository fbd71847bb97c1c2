using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Common;

/// <summary>
/// diffusers `Attention` as the MMDiT transformers (FLUX, SD3) configure it: multi-head self-attention over the image
/// tokens and, when the block has a context stream, jointly over [context tokens, image tokens] with the context's own
/// projections (`add_q_proj`, ...). Optional RMS-normed queries and keys per head, optional rotary positions over
/// the joint sequence. No mask: every token attends to every token.
/// </summary>
public sealed class JointAttention : Module
{
    readonly Linear to_q;
    readonly Linear to_k;
    readonly Linear to_v;
    readonly RMSNorm? norm_q;
    readonly RMSNorm? norm_k;
    readonly ModuleList<Linear>? to_out;
    readonly Linear? add_q_proj;
    readonly Linear? add_k_proj;
    readonly Linear? add_v_proj;
    readonly RMSNorm? norm_added_q;
    readonly RMSNorm? norm_added_k;
    readonly Linear? to_add_out;
    readonly long _heads;
    readonly long _headDim;

    /// <param name="dim">Width of the image (and context) stream.</param>
    /// <param name="qkNormEps">RMS norm of queries and keys with this eps, or null for none.</param>
    /// <param name="withContext">The joint form with the context stream's projections.</param>
    /// <param name="contextPreOnly">No `to_add_out`: the context output is not needed (SD3's last block).</param>
    /// <param name="preOnly">No `to_out`: the caller projects the attention output itself (FLUX single blocks).</param>
    public JointAttention(long dim, long heads, long headDim, double? qkNormEps, bool withContext,
        bool contextPreOnly = false, bool preOnly = false) : base(nameof(JointAttention))
    {
        _heads = heads;
        _headDim = headDim;
        var inner = heads * headDim;
        to_q = Linear(dim, inner);
        to_k = Linear(dim, inner);
        to_v = Linear(dim, inner);
        if (qkNormEps is { } eps)
        {
            norm_q = new RMSNorm(headDim, eps);
            norm_k = new RMSNorm(headDim, eps);
        }
        if (!preOnly) to_out = ModuleList(Linear(inner, dim));
        if (withContext)
        {
            add_q_proj = Linear(dim, inner);
            add_k_proj = Linear(dim, inner);
            add_v_proj = Linear(dim, inner);
            if (qkNormEps is { } contextEps)
            {
                norm_added_q = new RMSNorm(headDim, contextEps);
                norm_added_k = new RMSNorm(headDim, contextEps);
            }
            if (!contextPreOnly) to_add_out = Linear(inner, dim);
        }
        RegisterComponents();
    }

    /// <param name="hidden">Image tokens (B, S, dim).</param>
    /// <param name="context">Context tokens (B, T, dim), or null for image-only attention.</param>
    /// <param name="rotary">Rotary tables over the joint sequence (context first), or null.</param>
    /// <returns>The image-token output and, in the joint form, the context-token output.</returns>
    public (Tensor Hidden, Tensor? Context) forward(Tensor hidden, Tensor? context, RotaryEmbedding? rotary)
    {
        if (context is not null && add_q_proj is null) throw new InvalidOperationException("this attention has no context projections");
        using var scope = NewDisposeScope();
        var query = Heads(to_q.forward(hidden), norm_q);
        var key = Heads(to_k.forward(hidden), norm_k);
        var value = Heads(to_v.forward(hidden), null);
        long contextLength = 0;
        if (context is not null)
        {
            contextLength = context.shape[1];
            query = cat([Heads(add_q_proj!.forward(context), norm_added_q), query], 2);
            key = cat([Heads(add_k_proj!.forward(context), norm_added_k), key], 2);
            value = cat([Heads(add_v_proj!.forward(context), null), value], 2);
        }
        if (rotary is not null)
        {
            query = rotary.Apply(query);
            key = rotary.Apply(key);
        }
        var attended = functional.scaled_dot_product_attention(query, key, value);
        var batch = hidden.shape[0];
        var joint = attended.transpose(1, 2).reshape(batch, -1, _heads * _headDim).to_type(query.dtype);

        var imageOut = joint.narrow(1, contextLength, joint.shape[1] - contextLength);
        if (to_out is not null) imageOut = to_out[0].forward(imageOut);
        Tensor? contextOut = null;
        if (context is not null)
        {
            contextOut = joint.narrow(1, 0, contextLength);
            if (to_add_out is not null) contextOut = to_add_out.forward(contextOut);
            contextOut = contextOut.MoveToOuterDisposeScope();
        }
        return (imageOut.MoveToOuterDisposeScope(), contextOut);
    }

    /// <summary>(B, S, heads*head_dim) -> (B, heads, S, head_dim), RMS-normed per head when a norm is given.</summary>
    Tensor Heads(Tensor x, RMSNorm? norm)
    {
        var heads = x.view(x.shape[0], -1, _heads, _headDim).transpose(1, 2);
        return norm?.forward(heads) ?? heads;
    }
}
