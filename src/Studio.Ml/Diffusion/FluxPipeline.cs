using System.Diagnostics;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.Vae;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>One text-to-image call: every prompt gets one image; one seed draws the noise of the whole batch.</summary>
/// <param name="SeedEachPrompt">Every prompt starts from the noise a one-prompt call with <paramref name="Seed"/> draws
/// (<see cref="SeededNoise"/>: a run's samples, the pictures Generate draws); false: the batch's noise from one
/// generator, as diffusers draws it.</param>
/// <param name="MaxSequenceLength">T5 tokens per prompt; null: 512 for a guidance-embedded model (FLUX.1-dev), 256 otherwise (schnell).</param>
/// <param name="VaeTileSize">Decode in overlapping tiles of this many pixels (large images on little memory); null: in one piece.</param>
/// <param name="TrueCfgScale">diffusers' `true_cfg_scale`: above 1 with a <paramref name="NegativePrompt"/>, every step also
/// runs the transformer on the negative prompt and takes negative + scale * (positive - negative).</param>
/// <param name="NegativePrompt">The negative prompt of every image ("" is the empty prompt); null: no true CFG.</param>
public sealed record FluxRequest(IReadOnlyList<string> Prompts, long Seed, int Steps, double Guidance, int Width, int Height,
    int? MaxSequenceLength = null, int? VaeTileSize = null, double TrueCfgScale = 1.0, string? NegativePrompt = null, bool SeedEachPrompt = false)
{
    public bool DoesTrueCfg => TrueCfgScale > 1 && NegativePrompt is not null;
}

/// <summary>
/// diffusers' `FluxPipeline` on a diffusers folder (`model_index.json`, `transformer/`, `vae/`, `text_encoder/` CLIP-L,
/// `text_encoder_2/` T5, `tokenizer/`, `tokenizer_2/`, `scheduler/`): prompts -> CLIP pooled vector + T5-slot states
/// -> seeded packed noise -> Euler steps with embedded guidance -> unpack -> un-scale/shift -> VAE decode. The T5 slot
/// takes any encoder of the transformer's text width (<see cref="T5SlotEncoder"/>): the original T5-XXL, a student of
/// this studio, or a DistillT5 folder; the tokenizer is always the pipeline's `tokenizer_2`.
/// </summary>
public sealed class FluxPipeline : ISlotPipeline
{
    public FluxTransformer Transformer { get; }
    public AutoencoderKL Vae { get; }
    /// <summary>CLIP; loaded again from the folder if <see cref="FreeTextEncodersAfterEncoding"/> freed it.</summary>
    public ClipTextEncoder Clip => TextEncoders().Clip;
    public TextTokenizer ClipTokenizer { get; }
    /// <summary>The T5 slot's own encoder; loaded again from the folder if <see cref="FreeTextEncodersAfterEncoding"/> freed it.</summary>
    public T5SlotEncoder T5 => TextEncoders().T5;
    public TextTokenizer T5Tokenizer { get; }
    public FlowMatchEulerScheduler Scheduler { get; }
    public string Source { get; }

    /// <summary>
    /// After a call has encoded its prompts, dispose CLIP and the T5 slot's encoder, so that a big T5 (FLUX.1-dev's
    /// T5-XXL) and the transformer need not be in the device's memory together; the next call loads them again from
    /// the folder. Only for pipelines made by <see cref="Load"/> (see its freeTextEncoders).
    /// </summary>
    public bool FreeTextEncodersAfterEncoding { get; }

    /// <summary>Whether CLIP and the T5 slot's encoder are in memory (false between calls that free them).</summary>
    public bool TextEncodersLoaded => _clip is not null;

    /// <summary>The components this pipeline disposes besides the text encoders: all of them, except the transformer borrowed by <see cref="Around"/>.</summary>
    readonly IDisposable[] _owned;
    /// <summary>Loads CLIP and the T5 slot again (<see cref="Load"/>'s pipelines); null when the T5 slot is borrowed (<see cref="Around"/>).</summary>
    readonly Func<(ClipTextEncoder, T5SlotEncoder)>? _reload;
    ClipTextEncoder? _clip;
    T5SlotEncoder? _t5;
    /// <summary>CLIP's LoRA merges, applied again when CLIP is loaded back (<see cref="AdaptClips"/>).</summary>
    readonly TextEncoderAdaptations _clipAdaptations = new();

    FluxPipeline(string source, FluxTransformer transformer, AutoencoderKL vae, ClipTextEncoder clip, TextTokenizer clipTokenizer,
        T5SlotEncoder t5, TextTokenizer t5Tokenizer, FlowMatchEulerScheduler scheduler, IDisposable[] owned,
        Func<(ClipTextEncoder, T5SlotEncoder)>? reload, bool freeTextEncoders = false)
    {
        _owned = owned;
        _reload = reload;
        FreeTextEncodersAfterEncoding = freeTextEncoders;
        Source = source;
        Transformer = transformer;
        Vae = vae;
        _clip = clip;
        ClipTokenizer = clipTokenizer;
        _t5 = t5;
        T5Tokenizer = t5Tokenizer;
        Scheduler = scheduler;
    }

    (ClipTextEncoder Clip, T5SlotEncoder T5) TextEncoders()
    {
        if (_clip is null || _t5 is null)
        {
            (_clip, _t5) = _reload!();
            try { _clipAdaptations.Loaded(ClipParts(_clip)); }
            catch
            {
                FreeTextEncoders();
                throw;
            }
        }
        return (_clip, _t5);
    }

    static IReadOnlyList<(string Part, nn.Module Module)> ClipParts(ClipTextEncoder clip) => [("text_encoder", clip)];

    public IDisposable AdaptClips(Func<IReadOnlyList<(string Part, nn.Module Module)>, IDisposable> apply) => _clipAdaptations.Add(apply, ClipParts(Clip));

    /// <summary>Loads every component of a diffusers FLUX folder in <paramref name="dtype"/> onto <paramref name="device"/> (default: the CPU).</summary>
    /// <param name="textEncoder2">A folder to put in the T5 slot instead of the pipeline's `text_encoder_2/`.</param>
    /// <param name="freeTextEncoders">Free CLIP and the T5 slot after each call's encoding (<see cref="FreeTextEncodersAfterEncoding"/>).</param>
    public static FluxPipeline Load(string folder, ScalarType dtype = ScalarType.Float32, string? textEncoder2 = null, Device? device = null,
        bool freeTextEncoders = false)
    {
        device ??= CPU;
        using var load = PipelineFolderLoad.Open(folder, "Flux", "a FLUX pipeline");
        var t5Folder = textEncoder2 is null ? load.Part("text_encoder_2") : Path.GetFullPath(textEncoder2);
        // Tokenizers and configs first: a config that disagrees with another part is named before its weights are read.
        var clipTokenizer = TextTokenizer.Load(load.Part("tokenizer"));
        var t5Tokenizer = TextTokenizer.Load(load.Part("tokenizer_2"));
        CheckConfigs(load, t5Folder, clipTokenizer, t5Tokenizer);
        var transformer = load.Keep(FluxTransformer.FromPretrained(load.Part("transformer"), dtype));
        transformer.to(device);
        var vae = load.Keep(AutoencoderKL.FromPretrained(load.Part("vae"), dtype));
        vae.to(device);
        var clipFolder = load.Part("text_encoder");
        (ClipTextEncoder, T5SlotEncoder) LoadTextEncoders()
        {
            var clip = ClipTextEncoder.Load(clipFolder, dtype).Model;
            clip.to(device);
            try { return (clip, T5SlotEncoder.Load(t5Folder, dtype, device)); }
            catch { clip.Dispose(); throw; }
        }
        var (clip, t5) = LoadTextEncoders();
        load.Keep(clip);
        load.Keep(t5);
        PipelineFolderLoad.CheckT5SlotWidth(t5, t5Folder, transformer.Config.JointAttentionDim);
        PipelineFolderLoad.CheckClipPooledWidth(clip, clipFolder, transformer.Config.PooledProjectionDim);
        return load.Complete(new FluxPipeline(load.Folder, transformer, vae, clip, clipTokenizer, t5, t5Tokenizer, load.Scheduler(),
            owned: [transformer, vae], reload: LoadTextEncoders, freeTextEncoders));
    }

    /// <summary>
    /// The configs against each other and the tokenizers, before any weights load: the transformer's
    /// joint_attention_dim is the T5 slot's width, its pooled_projection_dim CLIP's hidden_size, and each text
    /// encoder's vocab_size covers its tokenizer's ids. A config that cannot be read is left to its part's own load.
    /// </summary>
    static void CheckConfigs(PipelineFolderLoad load, string t5Folder, TextTokenizer clipTokenizer, TextTokenizer t5Tokenizer)
    {
        var clipFolder = load.Part("text_encoder");
        PipelineFolderLoad.CheckVocabulary(clipFolder, clipTokenizer);
        PipelineFolderLoad.CheckVocabulary(t5Folder, t5Tokenizer);
        var transformerConfigPath = Path.Combine(load.Part("transformer"), "config.json");
        var clipConfigPath = Path.Combine(clipFolder, "config.json");
        if (!File.Exists(transformerConfigPath)) return;
        var transformer = FluxTransformerConfig.Load(transformerConfigPath);
        if (PipelineFolderLoad.PlainT5Config(t5Folder) is var (t5, t5ConfigPath) && t5.DModel != transformer.JointAttentionDim)
            throw new InvalidDataException($"{transformerConfigPath}: 'joint_attention_dim' is {transformer.JointAttentionDim}, " +
                $"but the T5 slot ({t5ConfigPath}) has d_model {t5.DModel}");
        if (File.Exists(clipConfigPath) && ClipTextConfig.Load(clipConfigPath) is var clip && clip.HiddenSize != transformer.PooledProjectionDim)
            throw new InvalidDataException($"{transformerConfigPath}: 'pooled_projection_dim' is {transformer.PooledProjectionDim}, " +
                $"but CLIP ({clipConfigPath}) pools to hidden_size {clip.HiddenSize}");
    }

    /// <summary>
    /// A pipeline around a transformer and a T5 slot that are already loaded (a trainer's frozen transformer and its
    /// student): the VAE, CLIP, tokenizers and scheduler load from <paramref name="folder"/> in the transformer's dtype,
    /// onto the transformer's device. The transformer and the T5 slot stay their owner's: disposing the pipeline leaves them alone.
    /// </summary>
    public static FluxPipeline Around(string folder, FluxTransformer transformer, T5SlotEncoder t5)
    {
        var dtype = transformer.parameters().First().dtype;
        var device = ComputeDevice.Of(transformer);
        using var load = PipelineFolderLoad.Open(folder, "Flux", "a FLUX pipeline");
        var vae = load.Keep(AutoencoderKL.FromPretrained(load.Part("vae"), dtype));
        vae.to(device);
        var clip = load.Keep(ClipTextEncoder.Load(load.Part("text_encoder"), dtype).Model);
        clip.to(device);
        PipelineFolderLoad.CheckT5SlotWidth(t5, t5.Description, transformer.Config.JointAttentionDim);
        PipelineFolderLoad.CheckClipPooledWidth(clip, load.Part("text_encoder"), transformer.Config.PooledProjectionDim);
        return load.Complete(new FluxPipeline(load.Folder, transformer, vae, clip, TextTokenizer.Load(load.Part("tokenizer")), t5,
            TextTokenizer.Load(load.Part("tokenizer_2")), load.Scheduler(), owned: [vae], reload: null));
    }

    /// <summary>Bytes of every component's parameters and buffers (what a pipeline cache counts).</summary>
    public long ParameterBytes => PipelineFolderLoad.ParameterBytes(Transformer, Vae, _clip, _t5?.Module);

    /// <summary>Where the transformer computes; the conditioning, noise and latents of a call are moved there.</summary>
    public Device Device => ComputeDevice.Of(Transformer);

    /// <summary>FluxPipeline's T5 length default: 512 for FLUX.1-dev, 256 for schnell (no guidance embedder).</summary>
    public int DefaultMaxSequenceLength => Transformer.Config.GuidanceEmbeds ? 512 : 256;

    /// <summary>
    /// `encode_prompt`: CLIP's pooled output of the prompts padded to CLIP's 77 positions, and the T5-slot states of the
    /// prompts padded/truncated to <paramref name="maxSequenceLength"/>; no attention masks (padding is encoded).
    /// <paramref name="textEncoder2"/> fills the T5 slot for this call instead of the pipeline's own encoder (a student
    /// compared with its teacher on the same loaded transformer). Token ids go to each encoder's device, the states to
    /// the transformer's (an encoder may stay on the CPU while the transformer is on a GPU).
    /// </summary>
    public FluxConditioning EncodePrompts(IReadOnlyList<string> prompts, int maxSequenceLength, T5SlotEncoder? textEncoder2 = null)
    {
        if (prompts.Count == 0) throw new ArgumentException("at least one prompt is needed", nameof(prompts));
        if (maxSequenceLength is < 1 or > 512) throw new ArgumentOutOfRangeException(nameof(maxSequenceLength), maxSequenceLength, "FLUX takes 1 to 512 T5 tokens");
        using var _ = no_grad();
        TextEncoders(); // (re)loaded outside this call's dispose scope, which would otherwise take their weights
        using var scope = NewDisposeScope();
        var (clipIds, _) = ClipTokenizer.EncodeBatch(prompts, Clip.Config.MaxPositionEmbeddings);
        using var clipOutput = Clip.forward(clipIds.to(ComputeDevice.Of(Clip)));
        var (t5Ids, _) = T5Tokenizer.EncodeBatch(prompts, maxSequenceLength);
        var t5 = textEncoder2 ?? T5;
        if (t5.Width != Transformer.Config.JointAttentionDim)
            throw new InvalidDataException($"the T5 slot ({t5.Description}) gives states of width {t5.Width}, but the transformer's joint_attention_dim is {Transformer.Config.JointAttentionDim}");
        var states = t5.Encode(t5Ids.to(ComputeDevice.Of(t5.Module)));
        return new FluxConditioning(states.to(Device).MoveToOuterDisposeScope(), clipOutput.PoolerOutput.to(Device).MoveToOuterDisposeScope());
    }

    /// <summary>Generates one image per prompt; <paramref name="onStep"/> is called after each denoising step.</summary>
    /// <param name="textEncoder2">Fills the T5 slot for this call instead of the pipeline's own encoder.</param>
    public GeneratedImages Generate(FluxRequest request, Action<int>? onStep = null, T5SlotEncoder? textEncoder2 = null)
    {
        if (request.Steps < 1) throw new ArgumentOutOfRangeException(nameof(request), request.Steps, "steps must be at least 1");
        var denoiser = new FluxDenoiser(Transformer, Scheduler);
        var (latentHeight, latentWidth) = FluxDenoiser.LatentSize(request.Height, request.Width, Vae.Config.DownscaleFactor);
        var timings = new List<(string, TimeSpan)>();
        var clock = Stopwatch.StartNew();
        void Lap(string stage) { timings.Add((stage, clock.Elapsed)); clock.Restart(); }

        using var _ = no_grad();
        TextEncoders(); // (re)loaded outside this call's dispose scope, which would otherwise take their weights
        using var scope = NewDisposeScope();
        var maxSequenceLength = request.MaxSequenceLength ?? DefaultMaxSequenceLength;
        using var conditioning = EncodePrompts(request.Prompts, maxSequenceLength, textEncoder2);
        using var negative = request.DoesTrueCfg
            ? EncodePrompts(Enumerable.Repeat(request.NegativePrompt!, request.Prompts.Count).ToList(), maxSequenceLength, textEncoder2)
            : null;
        if (FreeTextEncodersAfterEncoding) FreeTextEncoders();
        Lap("encode prompts");

        var latents = SeededNoise.Draw(request.Prompts.Count, request.Seed, request.SeedEachPrompt,
            (batch, generator) => denoiser.InitialLatents(batch, latentHeight, latentWidth, generator));
        var schedule = denoiser.Schedule(request.Steps, latentHeight, latentWidth);
        latents = denoiser.Denoise(latents, latentHeight, latentWidth, schedule, conditioning, request.Guidance, onStep,
            negative is null ? null : (negative, request.TrueCfgScale));
        Lap("denoise");

        var vaeLatents = Vae.UnscaleLatents(LatentPacking.Unpack(latents, latentHeight, latentWidth).to_type(Vae.DType));
        var decoded = request.VaeTileSize is { } tile ? Vae.DecodeTiled(vaeLatents, tile) : Vae.Decode(vaeLatents);
        var images = ImagePng.Denormalize(decoded).cpu();
        Lap("decode");
        return new GeneratedImages(images.MoveToOuterDisposeScope(), timings);
    }

    /// <summary>
    /// FluxPipeline's T5 length capped by `tokenizer_2`'s model_max_length: the toy teacher was trained on 32 tokens
    /// (FLUX.1's tokenizer says 512, so real pipelines keep diffusers' default).
    /// </summary>
    public int MaxSequenceLength =>
        TextTokenizer.ModelMaxLength(Path.Combine(Source, "tokenizer_2")) is { } length ? Math.Min(length, DefaultMaxSequenceLength) : DefaultMaxSequenceLength;

    /// <summary>Disposes CLIP and the T5 slot's own encoder; the next use loads them again.</summary>
    void FreeTextEncoders()
    {
        _clipAdaptations.Unloading();
        _clip?.Dispose();
        _t5?.Dispose();
        (_clip, _t5) = (null, null);
    }

    T5SlotEncoder? ISlotPipeline.T5 => T5;
    TextTokenizer? ISlotPipeline.T5Tokenizer => T5Tokenizer;

    public IReadOnlyList<(string Part, nn.Module Module)> WeightedParts =>
        [("transformer", Transformer), ("vae", Vae), ("text_encoder", Clip), ("text_encoder_2", T5.Module)];

    public GeneratedImages Draw(SlotRequest request, T5SlotEncoder? slot = null, Action<int>? onStep = null) =>
        Generate(RequestOf(request), onStep, slot);

    /// <summary>The FLUX call of <paramref name="request"/>: the negative prompt only with a true CFG scale above 1 (else none at all).</summary>
    public static FluxRequest RequestOf(SlotRequest request) =>
        new(request.Prompts, request.Seed, request.Steps, request.Guidance, request.Width, request.Height, request.MaxSequenceLength,
            TrueCfgScale: request.TrueCfgScale, NegativePrompt: request.TrueCfgScale > 1 ? request.NegativePrompt ?? "" : null);

    public void Dispose()
    {
        _clipAdaptations.Unloading();
        foreach (var component in _owned) component.Dispose();
        _clip?.Dispose();
        if (_reload is not null) _t5?.Dispose();
    }
}
