using Studio.Ml.Models.Common;
using Studio.Ml.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Flux;

/// <summary>
/// diffusers `FluxTransformer2DModel` (FLUX.1-dev with the guidance embedder, FLUX.1-schnell without): the velocity
/// predictor of FLUX. Packed image latents and T5 token states are embedded to one width; the timestep, the embedded
/// guidance and the pooled CLIP vector form the modulation vector `temb`; double-stream blocks, then single-stream
/// blocks over [text, image]; the image tokens are normed (AdaLayerNormContinuous) and projected back.
/// Parameter names are diffusers', so a diffusers `transformer/` folder loads by name
/// (<see cref="FluxOriginalCheckpoint"/> maps the original single-file layout).
/// </summary>
public sealed class FluxTransformer : Module
{
    readonly CombinedTimestepTextProjEmbeddings time_text_embed;
    readonly Linear context_embedder;
    readonly Linear x_embedder;
    readonly ModuleList<FluxTransformerBlock> transformer_blocks;
    readonly ModuleList<FluxSingleTransformerBlock> single_transformer_blocks;
    readonly AdaLayerNormContinuous norm_out;
    readonly Linear proj_out;
    readonly FluxPosEmbed _posEmbed;

    public FluxTransformerConfig Config { get; }

    /// <summary>
    /// Recompute each block's activations during the backward pass instead of keeping them (see
    /// <see cref="ActivationCheckpoint"/>); applies whenever gradients are enabled. Outputs are unchanged.
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    public FluxTransformer(FluxTransformerConfig config) : base("FluxTransformer2DModel")
    {
        Config = config;
        var inner = config.InnerDim;
        _posEmbed = new FluxPosEmbed(config.RopeAxes);
        time_text_embed = new CombinedTimestepTextProjEmbeddings(inner, config.PooledProjectionDim, config.GuidanceEmbeds);
        context_embedder = Linear(config.JointAttentionDim, inner);
        x_embedder = Linear(config.InChannels, inner);
        transformer_blocks = ModuleList(Enumerable.Range(0, config.NumLayers)
            .Select(_ => new FluxTransformerBlock(inner, config.NumAttentionHeads, config.AttentionHeadDim)).ToArray());
        single_transformer_blocks = ModuleList(Enumerable.Range(0, config.NumSingleLayers)
            .Select(_ => new FluxSingleTransformerBlock(inner, config.NumAttentionHeads, config.AttentionHeadDim)).ToArray());
        norm_out = new AdaLayerNormContinuous(inner, inner, eps: 1e-6);
        proj_out = Linear(inner, config.PatchSize * config.PatchSize * config.OutChannels);
        RegisterComponents();
    }

    /// <summary>A randomly initialised model with parameters in the given dtype, in eval mode.</summary>
    public static FluxTransformer Create(FluxTransformerConfig config, ScalarType dtype = ScalarType.Float32)
    {
        var model = ModelConstruction.InDType(dtype, () => new FluxTransformer(config));
        model.eval();
        return model;
    }

    /// <summary>
    /// Loads a diffusers `transformer/` folder (config.json + single or sharded safetensors), or an original
    /// single-file FLUX checkpoint (the configuration is inferred from its shapes, see
    /// <see cref="FluxOriginalCheckpoint.InferConfig"/>), with parameters in the given dtype.
    /// </summary>
    /// <param name="axesDimsRope">For an original checkpoint whose head width is not FLUX.1's 128.</param>
    public static FluxTransformer FromPretrained(string path, ScalarType dtype = ScalarType.Float32, int[]? axesDimsRope = null)
    {
        using var checkpoint = Checkpoint.Open(path);
        var original = FluxOriginalCheckpoint.IsOriginalLayout(checkpoint);
        var configPath = Path.Combine(Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!, "config.json");
        var config = original
            ? FluxOriginalCheckpoint.InferConfig(checkpoint, axesDimsRope)
            : FluxTransformerConfig.Load(configPath);
        var model = Create(config, dtype);
        try
        {
            if (original) FluxOriginalCheckpoint.Load(model, checkpoint);
            else CheckpointLoadException.NamingConfig(checkpoint.Source, configPath, () => ModuleLoader.Load(model, checkpoint));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Predicts the flow-matching velocity of packed latents.
    /// </summary>
    /// <param name="hiddenStates">Packed latents (B, S, in_channels).</param>
    /// <param name="encoderHiddenStates">T5 token states (B, T, joint_attention_dim); gradients flow back into them.</param>
    /// <param name="pooledProjections">Pooled CLIP vector (B, pooled_projection_dim).</param>
    /// <param name="timestep">(B) sigma in [0, 1] as FluxPipeline passes it (timestep / 1000); scaled by 1000 here.</param>
    /// <param name="imgIds">(S, 3) image position ids, [0, row, col].</param>
    /// <param name="txtIds">(T, 3) text position ids (zeros).</param>
    /// <param name="guidance">(B) raw embedded-guidance scale (FLUX.1-dev), scaled by 1000 here; null for schnell.</param>
    /// <returns>The velocity, shaped like <paramref name="hiddenStates"/>.</returns>
    public Tensor forward(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
        Tensor imgIds, Tensor txtIds, Tensor? guidance = null)
    {
        CheckInputs(hiddenStates, encoderHiddenStates, pooledProjections, timestep, imgIds, txtIds, guidance);
        using var scope = NewDisposeScope();
        var hidden = x_embedder.forward(hiddenStates);
        // diffusers casts to the compute dtype before scaling, so bf16 compute sees bf16-rounded timesteps.
        var temb = time_text_embed.forward(
            timestep.to_type(hidden.dtype) * 1000,
            guidance is null ? null : guidance.to_type(hidden.dtype) * 1000,
            pooledProjections);
        var context = context_embedder.forward(encoderHiddenStates);
        using var rotary = _posEmbed.Forward(cat([txtIds, imgIds], 0));

        // Each block's inputs are released as soon as its outputs exist (what autograd saves for backward stays), so
        // a forward without gradients holds one block's states at a time, as in PyTorch, not every block's.
        foreach (var block in transformer_blocks)
        {
            var (nextContext, nextHidden) = GradientCheckpointing ? Checkpointed(block, hidden, context, temb, rotary) : block.forward(hidden, context, temb, rotary);
            context.Dispose();
            hidden.Dispose();
            (context, hidden) = (nextContext, nextHidden);
        }

        var textLength = context.shape[1];
        var joined = cat([context, hidden], 1);
        context.Dispose();
        hidden.Dispose();
        hidden = joined;
        foreach (var block in single_transformer_blocks)
        {
            var next = GradientCheckpointing ? Checkpointed(block, hidden, temb, rotary) : block.forward(hidden, temb, rotary);
            hidden.Dispose();
            hidden = next;
        }

        hidden = hidden.narrow(1, textLength, hidden.shape[1] - textLength);
        return proj_out.forward(norm_out.forward(hidden, temb)).MoveToOuterDisposeScope();
    }

    static (Tensor Context, Tensor Hidden) Checkpointed(FluxTransformerBlock block, Tensor hidden, Tensor context, Tensor temb, RotaryEmbedding rotary)
    {
        var outputs = ActivationCheckpoint.Run(x =>
        {
            var (c, h) = block.forward(x[0], x[1], x[2], new RotaryEmbedding(x[3], x[4]));
            return [c, h];
        }, hidden, context, temb, rotary.Cos, rotary.Sin);
        return (outputs[0], outputs[1]);
    }

    static Tensor Checkpointed(FluxSingleTransformerBlock block, Tensor hidden, Tensor temb, RotaryEmbedding rotary) =>
        ActivationCheckpoint.Run(x => [block.forward(x[0], x[1], new RotaryEmbedding(x[2], x[3]))], hidden, temb, rotary.Cos, rotary.Sin)[0];

    void CheckInputs(Tensor hidden, Tensor context, Tensor pooled, Tensor timestep, Tensor imgIds, Tensor txtIds, Tensor? guidance)
    {
        static string Shape(Tensor t) => $"[{string.Join(", ", t.shape)}]";
        if (hidden.dim() != 3 || hidden.shape[2] != Config.InChannels)
            throw new ArgumentException($"hidden_states must be (batch, tokens, {Config.InChannels}), got {Shape(hidden)}");
        var batch = hidden.shape[0];
        if (context.dim() != 3 || context.shape[0] != batch || context.shape[2] != Config.JointAttentionDim)
            throw new ArgumentException($"encoder_hidden_states must be ({batch}, tokens, {Config.JointAttentionDim}), got {Shape(context)}");
        if (pooled.dim() != 2 || pooled.shape[0] != batch || pooled.shape[1] != Config.PooledProjectionDim)
            throw new ArgumentException($"pooled_projections must be ({batch}, {Config.PooledProjectionDim}), got {Shape(pooled)}");
        if (timestep.dim() != 1 || timestep.shape[0] != batch)
            throw new ArgumentException($"timestep must hold one value per batch element ({batch}), got {Shape(timestep)}");
        if (guidance is not null && (guidance.dim() != 1 || guidance.shape[0] != batch))
            throw new ArgumentException($"guidance must hold one value per batch element ({batch}), got {Shape(guidance)}");
        if (imgIds.dim() != 2 || imgIds.shape[0] != hidden.shape[1] || imgIds.shape[1] != Config.RopeAxes.Count)
            throw new ArgumentException($"img_ids must be ({hidden.shape[1]}, {Config.RopeAxes.Count}), got {Shape(imgIds)}");
        if (txtIds.dim() != 2 || txtIds.shape[0] != context.shape[1] || txtIds.shape[1] != Config.RopeAxes.Count)
            throw new ArgumentException($"txt_ids must be ({context.shape[1]}, {Config.RopeAxes.Count}), got {Shape(txtIds)}");
    }
}
