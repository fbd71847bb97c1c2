using TorchSharp;
using Studio.Ml.Models.Common;
using Studio.Ml.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Sd3;

/// <summary>
/// diffusers `SD3Transformer2DModel` (MMDiT of Stable Diffusion 3 / 3.5), with diffusers' parameter names so a
/// `transformer/` folder loads by name. Latents are patchified with 2-D sin-cos positions, the timestep and pooled text
/// vector make one conditioning vector, the text states are projected to the model width, joint blocks run both
/// streams, and the image tokens are projected back and unpatchified.
/// </summary>
public sealed class Sd3Transformer : Module
{
    readonly PatchEmbed pos_embed;
    readonly CombinedTimestepTextProjEmbeddings time_text_embed;
    readonly Linear context_embedder;
    readonly ModuleList<JointTransformerBlock> transformer_blocks;
    readonly AdaLayerNormContinuous norm_out;
    readonly Linear proj_out;

    public Sd3TransformerConfig Config { get; }

    public Sd3Transformer(Sd3TransformerConfig config) : base(nameof(Sd3Transformer))
    {
        Config = config;
        var dim = config.InnerDim;
        pos_embed = new PatchEmbed(config.InChannels, dim, config.PatchSize, config.PosEmbedMaxSize, config.SampleSize);
        time_text_embed = new CombinedTimestepTextProjEmbeddings(dim, config.PooledProjectionDim, guidanceEmbeds: false);
        context_embedder = Linear(config.JointAttentionDim, config.CaptionProjectionDim);
        transformer_blocks = ModuleList(Enumerable.Range(0, config.NumLayers).Select(i => new JointTransformerBlock(
            dim, config.NumAttentionHeads, config.AttentionHeadDim,
            contextPreOnly: i == config.NumLayers - 1,
            qkRmsNorm: config.QkRmsNorm,
            dualAttention: config.DualAttentionLayers.Contains(i))).ToArray());
        norm_out = new AdaLayerNormContinuous(dim, dim, 1e-6);
        proj_out = Linear(dim, config.PatchSize * config.PatchSize * config.OutChannels);
        RegisterComponents();
    }

    /// <summary>Builds the transformer of a diffusers folder (`config.json` + sharded or single safetensors) in the given dtype.</summary>
    public static Sd3Transformer FromPretrained(string folder, ScalarType dtype = ScalarType.Float32)
    {
        var model = new Sd3Transformer(Sd3TransformerConfig.Load(Path.Combine(folder, "config.json")));
        model.to(dtype);
        using var checkpoint = Checkpoint.Open(folder);
        ModuleLoader.Load(model, checkpoint);
        model.eval();
        return model;
    }

    /// <param name="hiddenStates">Latents (B, in_channels, H, W), H and W multiples of patch_size.</param>
    /// <param name="encoderHiddenStates">Text states (B, T, joint_attention_dim).</param>
    /// <param name="pooledProjections">Pooled text vector (B, pooled_projection_dim).</param>
    /// <param name="timestep">(B) timesteps in [0, 1000], as the SD3 pipeline passes the scheduler's timesteps.</param>
    /// <returns>The prediction, (B, out_channels, H, W).</returns>
    public Tensor forward(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep)
    {
        var (batch, height, width) = (hiddenStates.shape[0], hiddenStates.shape[2], hiddenStates.shape[3]);
        var p = Config.PatchSize;
        if (hiddenStates.dim() != 4 || hiddenStates.shape[1] != Config.InChannels || height % p != 0 || width % p != 0)
            throw new ArgumentException($"hidden_states must be (B, {Config.InChannels}, H, W) with H and W multiples of {p}; got [{string.Join(", ", hiddenStates.shape)}]", nameof(hiddenStates));
        if (encoderHiddenStates.dim() != 3 || encoderHiddenStates.shape[2] != Config.JointAttentionDim)
            throw new ArgumentException($"encoder_hidden_states must be (B, T, {Config.JointAttentionDim}); got [{string.Join(", ", encoderHiddenStates.shape)}]", nameof(encoderHiddenStates));
        if (pooledProjections.dim() != 2 || pooledProjections.shape[1] != Config.PooledProjectionDim)
            throw new ArgumentException($"pooled_projections must be (B, {Config.PooledProjectionDim}); got [{string.Join(", ", pooledProjections.shape)}]", nameof(pooledProjections));

        using var scope = NewDisposeScope();
        var hidden = pos_embed.forward(hiddenStates);
        var temb = time_text_embed.forward(timestep, null, pooledProjections);
        Tensor? context = context_embedder.forward(encoderHiddenStates);
        // Each block's inputs are released once its outputs exist (autograd keeps what backward needs): a forward
        // without gradients holds one block's states at a time.
        foreach (var block in transformer_blocks)
        {
            var (nextContext, nextHidden) = block.forward(hidden, context!, temb);
            context?.Dispose();
            hidden.Dispose();
            (context, hidden) = (nextContext, nextHidden);
        }

        var patches = proj_out.forward(norm_out.forward(hidden, temb));
        // (B, h*w, p*p*C) -> (B, C, h*p, w*p): token (r, c) fills pixels [r*p .. r*p+p) x [c*p .. c*p+p).
        var sample = patches.reshape(batch, height / p, width / p, p, p, Config.OutChannels)
            .permute(0, 5, 1, 3, 2, 4)
            .reshape(batch, Config.OutChannels, height, width);
        return sample.MoveToOuterDisposeScope();
    }
}
