using System.Text.Json.Nodes;
using Studio.Ml.Models.Common;

namespace Studio.Ml.Toy;

/// <summary>
/// Sizes of the toy teacher's four models. They are the real model classes at toy scale; the vocabularies stay the real
/// ones because the teacher is tokenised with the real T5 and CLIP tokenizers.
/// </summary>
public sealed record ToyTeacherArchitecture(
    int[] VaeBlockOutChannels,
    int VaeNormNumGroups,
    int T5DModel,
    int T5NumLayers,
    int T5NumHeads,
    int T5DFf,
    int ClipHiddenSize,
    int ClipNumLayers,
    int ClipNumHeads,
    int ClipIntermediateSize,
    int FluxNumHeads,
    int FluxHeadDim,
    int FluxDoubleBlocks,
    int FluxSingleBlocks,
    int[] FluxAxesDimsRope)
{
    public const int LatentChannels = 16;
    public const int T5VocabSize = 32128;
    public const int ClipVocabSize = 49408;
    /// <summary>CLIP sees 77 tokens, as in FLUX.</summary>
    public const int ClipTextLength = 77;
    /// <summary>
    /// T5 prompts are padded to 32 tokens (FluxPipeline's max_sequence_length; FLUX.1-dev uses 512): toy prompts need
    /// at most about 25, and T5 cost on this CPU grows with the padded length.
    /// </summary>
    public const int T5TextLength = 32;

    /// <summary>Side of the latent of a 64x64 render: the VAE halves the size once per block after the first (diffusers).</summary>
    public int LatentSize => VaeBlockOutChannels.Length is >= 1 and <= 6
        ? ToyRenderer.Size >> (VaeBlockOutChannels.Length - 1)
        : throw new ArgumentException($"VaeBlockOutChannels: {VaeBlockOutChannels.Length} blocks; a 64x64 render needs 1 to 6 for an even latent side");

    /// <summary>Image tokens of a 64x64 render after FLUX's 2x2 packing of the latent.</summary>
    public int ImageTokens => LatentSize / 2 * (LatentSize / 2);

    /// <summary>
    /// The first teachers' sizes: a 64x64 -> 8x8 latent (16 image tokens of 16x16 px after packing, too coarse for a
    /// shape or a letter: issue #12), a T5 of d_model 256 (students are 32/64/128), a 128-wide FLUX transformer.
    /// </summary>
    public static ToyTeacherArchitecture Latent8 { get; } = new(
        VaeBlockOutChannels: [8, 16, 32, 32], VaeNormNumGroups: 4,
        T5DModel: 256, T5NumLayers: 2, T5NumHeads: 4, T5DFf: 512,
        ClipHiddenSize: 64, ClipNumLayers: 2, ClipNumHeads: 2, ClipIntermediateSize: 128,
        FluxNumHeads: 4, FluxHeadDim: 32, FluxDoubleBlocks: 2, FluxSingleBlocks: 2, FluxAxesDimsRope: [8, 12, 12]);

    /// <summary>
    /// The shipped teacher: <see cref="Latent8"/> with a 64x64 -> 16x16 latent (two down-samplings: 64 image tokens of
    /// 8x8 px after packing), the autoencoder twice as wide per level, the rest unchanged.
    /// </summary>
    public static ToyTeacherArchitecture Default { get; } = Latent8 with { VaeBlockOutChannels = [16, 32, 64] };

    /// <summary>
    /// <see cref="Default"/> with a transformer twice as wide (8 heads x 32: width 256, 7.3M parameters instead of 1.9M),
    /// for a transformer that may draw shapes (`studio toy pretrain --vae-from toy --architecture latent16-wide`); a
    /// stage B update costs about 2x the default's on a 2-core CPU, where the text encoders and the optimizer take much of it.
    /// </summary>
    public static ToyTeacherArchitecture Wide { get; } = Default with { FluxNumHeads = 8 };

    /// <summary>The architectures `studio toy pretrain --architecture` offers; the first is the default.</summary>
    public static IReadOnlyDictionary<string, ToyTeacherArchitecture> Named { get; } = new Dictionary<string, ToyTeacherArchitecture>
    {
        ["latent16"] = Default,
        ["latent8"] = Latent8,
        ["latent16-wide"] = Wide,
    };

    /// <summary>A minimal architecture for tests: every component present, each as small as its class allows.</summary>
    public static ToyTeacherArchitecture Tiny { get; } = new(
        VaeBlockOutChannels: [8, 16, 32, 32], VaeNormNumGroups: 4,
        T5DModel: 16, T5NumLayers: 1, T5NumHeads: 2, T5DFf: 32,
        ClipHiddenSize: 16, ClipNumLayers: 1, ClipNumHeads: 2, ClipIntermediateSize: 32,
        FluxNumHeads: 2, FluxHeadDim: 16, FluxDoubleBlocks: 1, FluxSingleBlocks: 1, FluxAxesDimsRope: [4, 6, 6]);
}

/// <summary>
/// The config.json files of the toy teacher, in the diffusers / transformers formats the real FLUX.1 folder uses.
/// The trainer builds every model from these same objects, so what is trained is what the folder describes.
/// </summary>
public static class ToyTeacherConfigs
{
    public const string DiffusersVersion = "0.31.0";

    public static JsonObject Vae(ToyTeacherArchitecture a, double scalingFactor = 1.0, double shiftFactor = 0.0)
    {
        var blocks = a.VaeBlockOutChannels;
        return new JsonObject
        {
            ["_class_name"] = "AutoencoderKL",
            ["_diffusers_version"] = DiffusersVersion,
            ["act_fn"] = "silu",
            ["block_out_channels"] = Ints(blocks),
            ["down_block_types"] = Strings(blocks.Select(_ => "DownEncoderBlock2D")),
            ["up_block_types"] = Strings(blocks.Select(_ => "UpDecoderBlock2D")),
            ["force_upcast"] = true,
            ["in_channels"] = 3,
            ["out_channels"] = 3,
            ["latent_channels"] = ToyTeacherArchitecture.LatentChannels,
            ["latents_mean"] = null,
            ["latents_std"] = null,
            ["layers_per_block"] = 1,
            ["mid_block_add_attention"] = true,
            ["norm_num_groups"] = a.VaeNormNumGroups,
            ["sample_size"] = ToyRenderer.Size,
            ["scaling_factor"] = scalingFactor,
            ["shift_factor"] = shiftFactor,
            ["use_quant_conv"] = false,
            ["use_post_quant_conv"] = false,
        };
    }

    public static JsonObject Transformer(ToyTeacherArchitecture a) => new()
    {
        ["_class_name"] = "FluxTransformer2DModel",
        ["_diffusers_version"] = DiffusersVersion,
        ["attention_head_dim"] = a.FluxHeadDim,
        ["axes_dims_rope"] = Ints(a.FluxAxesDimsRope),
        ["guidance_embeds"] = true,
        ["in_channels"] = ToyTeacherArchitecture.LatentChannels * 4,
        ["joint_attention_dim"] = a.T5DModel,
        ["num_attention_heads"] = a.FluxNumHeads,
        ["num_layers"] = a.FluxDoubleBlocks,
        ["num_single_layers"] = a.FluxSingleBlocks,
        ["patch_size"] = 1,
        ["pooled_projection_dim"] = a.ClipHiddenSize,
    };

    /// <summary>text_encoder_2: a T5 v1.1 encoder (gated-gelu, untied, as FLUX's T5-XXL), dropout off.</summary>
    public static JsonObject T5(ToyTeacherArchitecture a) => new()
    {
        ["architectures"] = Strings(["T5EncoderModel"]),
        ["model_type"] = "t5",
        ["d_ff"] = a.T5DFf,
        ["d_kv"] = a.T5DModel / a.T5NumHeads,
        ["d_model"] = a.T5DModel,
        ["dense_act_fn"] = "gelu_new",
        ["dropout_rate"] = 0.0,
        ["feed_forward_proj"] = "gated-gelu",
        ["is_gated_act"] = true,
        ["layer_norm_epsilon"] = 1e-6,
        ["num_heads"] = a.T5NumHeads,
        ["num_layers"] = a.T5NumLayers,
        ["relative_attention_max_distance"] = 128,
        ["relative_attention_num_buckets"] = 32,
        ["tie_word_embeddings"] = false,
        ["torch_dtype"] = "bfloat16",
        ["vocab_size"] = ToyTeacherArchitecture.T5VocabSize,
    };

    /// <summary>text_encoder: a CLIPTextModel with FLUX's CLIP-L conventions (quick_gelu, legacy eos_token_id 2 = argmax pooling).</summary>
    public static JsonObject Clip(ToyTeacherArchitecture a) => new()
    {
        ["architectures"] = Strings(["CLIPTextModel"]),
        ["model_type"] = "clip_text_model",
        ["attention_dropout"] = 0.0,
        ["bos_token_id"] = 0,
        ["eos_token_id"] = 2,
        ["pad_token_id"] = 1,
        ["hidden_act"] = "quick_gelu",
        ["hidden_size"] = a.ClipHiddenSize,
        ["intermediate_size"] = a.ClipIntermediateSize,
        ["layer_norm_eps"] = 1e-5,
        ["max_position_embeddings"] = ToyTeacherArchitecture.ClipTextLength,
        ["num_attention_heads"] = a.ClipNumHeads,
        ["num_hidden_layers"] = a.ClipNumLayers,
        ["projection_dim"] = a.ClipHiddenSize,
        ["torch_dtype"] = "bfloat16",
        ["vocab_size"] = ToyTeacherArchitecture.ClipVocabSize,
    };

    /// <summary>
    /// FLUX's scheduler with the shift line re-anchored to the toy resolution: a 64x64 image's packed tokens
    /// (<see cref="ToyTeacherArchitecture.ImageTokens"/>: 16 for an 8x8 latent, 64 for 16x16) are base_image_seq_len
    /// with base_shift 0.5 (mu 0.5, the shift FLUX.1 uses at its base of 256 tokens), and a 256x256 toy image (16 times
    /// the tokens) is max_image_seq_len with FLUX's max_shift 1.15.
    /// </summary>
    public static JsonObject Scheduler(ToyTeacherArchitecture a) => new()
    {
        ["_class_name"] = "FlowMatchEulerDiscreteScheduler",
        ["_diffusers_version"] = DiffusersVersion,
        ["base_image_seq_len"] = a.ImageTokens,
        ["base_shift"] = 0.5,
        ["max_image_seq_len"] = a.ImageTokens * 16,
        ["max_shift"] = 1.15,
        ["num_train_timesteps"] = 1000,
        ["shift"] = 3.0,
        ["use_dynamic_shifting"] = true,
    };

    public static JsonObject ModelIndex() => new()
    {
        ["_class_name"] = "FluxPipeline",
        ["_diffusers_version"] = DiffusersVersion,
        ["scheduler"] = Strings(["diffusers", "FlowMatchEulerDiscreteScheduler"]),
        ["text_encoder"] = Strings(["transformers", "CLIPTextModel"]),
        ["text_encoder_2"] = Strings(["transformers", "T5EncoderModel"]),
        ["tokenizer"] = Strings(["transformers", "CLIPTokenizer"]),
        ["tokenizer_2"] = Strings(["transformers", "T5TokenizerFast"]),
        ["transformer"] = Strings(["diffusers", "FluxTransformer2DModel"]),
        ["vae"] = Strings(["diffusers", "AutoencoderKL"]),
    };

    /// <summary>Reads a config object back as the model classes' parsers see a config.json.</summary>
    public static ModelConfig AsModelConfig(JsonObject json, string name) => new((JsonObject)json.DeepClone(), name);

    static JsonArray Ints(IEnumerable<int> values) => new(values.Select(v => (JsonNode)v).ToArray());
    static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode)v).ToArray());
}
