using System.Diagnostics;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Sd3;
using Studio.Ml.Models.Vae;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>One SD3 text-to-image call: one image per prompt, the batch's noise from one seed.</summary>
/// <param name="NegativePrompts">One per prompt, or null for empty negative prompts (the pipeline's default).</param>
/// <param name="MaxSequenceLength">T5 tokens per prompt (the pipeline's default is 256).</param>
/// <param name="SeedEachPrompt">Every prompt starts from the noise a one-prompt call with <paramref name="Seed"/> draws
/// (<see cref="SeededNoise"/>); false: the batch's noise from one generator, as diffusers draws it.</param>
public sealed record Sd3Request(IReadOnlyList<string> Prompts, long Seed, int Steps, double GuidanceScale, int Width, int Height,
    IReadOnlyList<string>? NegativePrompts = null, int MaxSequenceLength = 256, int? VaeTileSize = null, bool SeedEachPrompt = false);

/// <summary>
/// diffusers' `StableDiffusion3Pipeline` on a diffusers folder (`transformer/`, `vae/`, `text_encoder/` CLIP-L and
/// `text_encoder_2/` CLIP-G with projections, `text_encoder_3/` T5, their tokenizers, `scheduler/`): each CLIP gives its
/// penultimate token states and its projected pooled vector; the two CLIP state sets are joined along the width, padded
/// with zeros to T5's width and put before T5's states along the sequence; the pooled vector is both CLIP vectors
/// joined. Classifier-free guidance with a negative prompt, Euler steps over the static-shift schedule, then the VAE.
/// The T5 slot takes any <see cref="T5SlotEncoder"/>; a pipeline without `text_encoder_3/` conditions on zeros there.
/// </summary>
public sealed class Sd3Pipeline : ISlotPipeline
{
    /// <summary>CLIP's context length, also the token count of the zero T5 states when there is no T5 encoder.</summary>
    public const int ClipLength = 77;

    public Sd3Transformer Transformer { get; }
    public AutoencoderKL Vae { get; }
    /// <summary>The text encoders; loaded again from the folder if <see cref="FreeTextEncodersAfterEncoding"/> freed them.</summary>
    public ClipTextEncoder ClipL => TextEncoders().ClipL;
    public TextTokenizer ClipLTokenizer { get; }
    public ClipTextEncoder ClipG => TextEncoders().ClipG;
    public TextTokenizer ClipGTokenizer { get; }
    public T5SlotEncoder? T5 => TextEncoders().T5;
    public TextTokenizer? T5Tokenizer { get; }
    public FlowMatchEulerScheduler Scheduler { get; }
    public string Source { get; }

    /// <summary>
    /// After a call has encoded its prompts, dispose both CLIPs and the T5 slot's encoder (the next call loads them
    /// again from the folder), so that T5-XXL and the transformer need not be in the device's memory together.
    /// </summary>
    public bool FreeTextEncodersAfterEncoding { get; }

    /// <summary>Whether the text encoders are in memory (false between calls that free them).</summary>
    public bool TextEncodersLoaded => _encoders is not null;

    /// <summary>Loads the text encoders again (<see cref="Load"/>'s pipelines); null when the T5 slot is borrowed (<see cref="Around"/>).</summary>
    readonly Func<Encoders>? _reload;
    /// <summary>The components this pipeline disposes besides the text encoders: all of them, except the transformer borrowed by <see cref="Around"/>.</summary>
    readonly IDisposable[] _owned;
    Encoders? _encoders;
    /// <summary>The CLIPs' LoRA merges, applied again when they are loaded back (<see cref="AdaptClips"/>).</summary>
    readonly TextEncoderAdaptations _clipAdaptations = new();

    /// <summary>Both CLIPs and the T5 slot; the slot is left to its owner when <paramref name="T5Borrowed"/>.</summary>
    sealed record Encoders(ClipTextEncoder ClipL, ClipTextEncoder ClipG, T5SlotEncoder? T5, bool T5Borrowed = false) : IDisposable
    {
        public void Dispose()
        {
            ClipL.Dispose();
            ClipG.Dispose();
            if (!T5Borrowed) T5?.Dispose();
        }
    }

    Sd3Pipeline(string source, Sd3Transformer transformer, AutoencoderKL vae, Encoders encoders, Func<Encoders>? reload, TextTokenizer clipLTokenizer,
        TextTokenizer clipGTokenizer, TextTokenizer? t5Tokenizer, FlowMatchEulerScheduler scheduler, IDisposable[] owned, bool freeTextEncoders = false)
    {
        Source = source;
        Transformer = transformer;
        Vae = vae;
        _encoders = encoders;
        _reload = reload;
        _owned = owned;
        FreeTextEncodersAfterEncoding = freeTextEncoders;
        ClipLTokenizer = clipLTokenizer;
        ClipGTokenizer = clipGTokenizer;
        T5Tokenizer = t5Tokenizer;
        Scheduler = scheduler;
    }

    Encoders TextEncoders()
    {
        if (_encoders is null)
        {
            _encoders = _reload!();
            try { _clipAdaptations.Loaded(ClipParts(_encoders)); }
            catch
            {
                FreeTextEncoders();
                throw;
            }
        }
        return _encoders;
    }

    static IReadOnlyList<(string Part, nn.Module Module)> ClipParts(Encoders encoders) =>
        [("text_encoder", encoders.ClipL), ("text_encoder_2", encoders.ClipG)];

    public IDisposable AdaptClips(Func<IReadOnlyList<(string Part, nn.Module Module)>, IDisposable> apply) =>
        _clipAdaptations.Add(apply, ClipParts(TextEncoders()));

    /// <summary>Disposes the text encoders (the T5 slot unless borrowed); the next use loads them again.</summary>
    void FreeTextEncoders()
    {
        _clipAdaptations.Unloading();
        _encoders?.Dispose();
        _encoders = null;
    }

    /// <summary>Loads every component of a diffusers SD3 folder in <paramref name="dtype"/> onto <paramref name="device"/> (default: the CPU).</summary>
    /// <param name="textEncoder3">A folder to put in the T5 slot instead of the pipeline's `text_encoder_3/`.</param>
    /// <param name="freeTextEncoders">Free the text encoders after each call's encoding (<see cref="FreeTextEncodersAfterEncoding"/>).</param>
    public static Sd3Pipeline Load(string folder, ScalarType dtype = ScalarType.Float32, string? textEncoder3 = null, Device? device = null,
        bool freeTextEncoders = false)
    {
        device ??= CPU;
        using var load = PipelineFolderLoad.Open(folder, "StableDiffusion3", "a Stable Diffusion 3 pipeline");
        var t5Folder = textEncoder3 is not null ? Path.GetFullPath(textEncoder3) : load.Has("text_encoder_3") ? load.Part("text_encoder_3") : null;
        // Tokenizers first: each text encoder's vocab_size must cover its tokenizer's ids before any weights are read.
        var clipLTokenizer = TextTokenizer.Load(load.Part("tokenizer"));
        var clipGTokenizer = TextTokenizer.Load(load.Part("tokenizer_2"));
        var t5Tokenizer = t5Folder is null ? null : TextTokenizer.Load(load.Part("tokenizer_3"));
        CheckClipVocabularies(load, clipLTokenizer, clipGTokenizer);
        if (t5Folder is not null) PipelineFolderLoad.CheckVocabulary(t5Folder, t5Tokenizer!);
        var transformer = load.Keep(Sd3Transformer.FromPretrained(load.Part("transformer"), dtype));
        transformer.to(device);
        var vae = load.Keep(AutoencoderKL.FromPretrained(load.Part("vae"), dtype));
        vae.to(device);
        Encoders LoadTextEncoders()
        {
            var (clipL, clipG) = LoadClips(load, dtype, device);
            try { return new Encoders(clipL, clipG, t5Folder is null ? null : T5SlotEncoder.Load(t5Folder, dtype, device)); }
            catch
            {
                clipL.Dispose();
                clipG.Dispose();
                throw;
            }
        }
        var encoders = load.Keep(LoadTextEncoders());
        CheckClips(load, encoders.ClipL, encoders.ClipG, transformer.Config);
        if (encoders.T5 is { } t5) PipelineFolderLoad.CheckT5SlotWidth(t5, t5Folder!, transformer.Config.JointAttentionDim);
        return load.Complete(new Sd3Pipeline(load.Folder, transformer, vae, encoders, LoadTextEncoders, clipLTokenizer, clipGTokenizer,
            t5Tokenizer, load.Scheduler(), owned: [transformer, vae], freeTextEncoders));
    }

    /// <summary>
    /// A pipeline around a transformer and a T5 slot that are already loaded (a trainer's frozen transformer and its
    /// student): the VAE, both CLIPs, the tokenizers and the scheduler load from <paramref name="folder"/> in the
    /// transformer's dtype, onto the transformer's device. The transformer and the T5 slot stay their owner's:
    /// disposing the pipeline leaves them alone.
    /// </summary>
    public static Sd3Pipeline Around(string folder, Sd3Transformer transformer, T5SlotEncoder t5)
    {
        var dtype = transformer.parameters().First().dtype;
        var device = ComputeDevice.Of(transformer);
        using var load = PipelineFolderLoad.Open(folder, "StableDiffusion3", "a Stable Diffusion 3 pipeline");
        var clipLTokenizer = TextTokenizer.Load(load.Part("tokenizer"));
        var clipGTokenizer = TextTokenizer.Load(load.Part("tokenizer_2"));
        var t5Tokenizer = TextTokenizer.Load(load.Part("tokenizer_3"));
        CheckClipVocabularies(load, clipLTokenizer, clipGTokenizer);
        PipelineFolderLoad.CheckT5SlotWidth(t5, t5.Description, transformer.Config.JointAttentionDim);
        var vae = load.Keep(AutoencoderKL.FromPretrained(load.Part("vae"), dtype));
        vae.to(device);
        var (clipL, clipG) = LoadClips(load, dtype, device);
        var encoders = load.Keep(new Encoders(clipL, clipG, t5, T5Borrowed: true));
        CheckClips(load, clipL, clipG, transformer.Config);
        return load.Complete(new Sd3Pipeline(load.Folder, transformer, vae, encoders, reload: null, clipLTokenizer, clipGTokenizer,
            t5Tokenizer, load.Scheduler(), owned: [vae]));
    }

    /// <summary>Before any weights load: each CLIP's vocab_size covers its tokenizer's ids.</summary>
    static void CheckClipVocabularies(PipelineFolderLoad load, TextTokenizer clipLTokenizer, TextTokenizer clipGTokenizer)
    {
        PipelineFolderLoad.CheckVocabulary(load.Part("text_encoder"), clipLTokenizer);
        PipelineFolderLoad.CheckVocabulary(load.Part("text_encoder_2"), clipGTokenizer);
    }

    /// <summary>CLIP-L (`text_encoder/`) and CLIP-G (`text_encoder_2/`) in <paramref name="dtype"/> on <paramref name="device"/>; what loaded is disposed if either fails.</summary>
    static (ClipTextEncoder ClipL, ClipTextEncoder ClipG) LoadClips(PipelineFolderLoad load, ScalarType dtype, Device device)
    {
        var loaded = new List<ClipTextEncoder>();
        try
        {
            foreach (var part in new[] { "text_encoder", "text_encoder_2" })
            {
                var clip = ClipTextEncoder.Load(load.Part(part), dtype).Model;
                loaded.Add(clip);
                clip.to(device);
            }
            return (loaded[0], loaded[1]);
        }
        catch
        {
            loaded.ForEach(clip => clip.Dispose());
            throw;
        }
    }

    /// <summary>Both CLIPs have projections; their joined states fit the transformer's joint_attention_dim and their joined projections are its pooled_projection_dim.</summary>
    static void CheckClips(PipelineFolderLoad load, ClipTextEncoder clipL, ClipTextEncoder clipG, Sd3TransformerConfig transformer)
    {
        foreach (var (clip, part) in new[] { (clipL, "text_encoder"), (clipG, "text_encoder_2") })
            if (!clip.Config.HasProjection)
                throw new InvalidDataException($"{load.Part(part)}: SD3 needs CLIPTextModelWithProjection (a text_projection), this CLIP has none");
        var clipWidth = clipL.Config.HiddenSize + clipG.Config.HiddenSize;
        if (clipWidth > transformer.JointAttentionDim)
            throw new InvalidDataException($"{load.Folder}: the two CLIP encoders give {clipWidth} wide states, wider than the transformer's joint_attention_dim {transformer.JointAttentionDim}");
        var pooledWidth = clipL.Config.ProjectionDim + clipG.Config.ProjectionDim;
        if (pooledWidth != transformer.PooledProjectionDim)
            throw new InvalidDataException($"{load.Folder}: the CLIP projections give a {pooledWidth} wide pooled vector, but the transformer's pooled_projection_dim is {transformer.PooledProjectionDim}");
    }

    /// <summary>Bytes of every component's parameters and buffers (what a pipeline cache counts).</summary>
    public long ParameterBytes => PipelineFolderLoad.ParameterBytes(Transformer, Vae, _encoders?.ClipL, _encoders?.ClipG, _encoders?.T5?.Module);

    /// <summary>
    /// `encode_prompt` for one side of guidance: the joint token states (B, 77 + T5 tokens, joint_attention_dim) and
    /// the pooled vector (B, pooled_projection_dim), in the transformer's dtype. <paramref name="textEncoder3"/> fills the
    /// T5 slot for this call instead of the pipeline's own encoder (a student compared with its teacher on the same
    /// loaded transformer).
    /// </summary>
    public Sd3Conditioning EncodePrompts(IReadOnlyList<string> prompts, int maxSequenceLength = 256, T5SlotEncoder? textEncoder3 = null)
    {
        if (prompts.Count == 0) throw new ArgumentException("at least one prompt is needed", nameof(prompts));
        if (maxSequenceLength < 1) throw new ArgumentOutOfRangeException(nameof(maxSequenceLength), maxSequenceLength, "at least one T5 token");
        using var _ = no_grad();
        TextEncoders(); // (re)loaded outside this call's dispose scope, which would otherwise take their weights
        using var scope = NewDisposeScope();
        var (joined, joinedPooled) = EncodeClips(ClipL, ClipLTokenizer, ClipG, ClipGTokenizer, prompts);
        var width = Transformer.Config.JointAttentionDim;
        var clipStates = nn.functional.pad(joined, [0, width - joined.shape[2]]);

        Tensor t5States;
        if ((textEncoder3 ?? T5) is not { } t5)
            t5States = zeros([prompts.Count, ClipLength, width], dtype: clipStates.dtype, device: clipStates.device);
        else
        {
            if (T5Tokenizer is null) throw new InvalidOperationException($"{Source}: the pipeline has no 'tokenizer_3/' for the T5 slot ({t5.Description})");
            if (textEncoder3 is not null) PipelineFolderLoad.CheckT5SlotWidth(textEncoder3, "given for this call", width);
            var (t5Ids, _) = T5Tokenizer.EncodeBatch(prompts, maxSequenceLength);
            t5States = t5.Encode(t5Ids.to(ComputeDevice.Of(t5.Module))).to(clipStates.device);
        }
        var dtype = Transformer.parameters().First().dtype;
        var embeds = cat([clipStates.to_type(dtype), t5States.to_type(dtype)], 1);
        var pooled = joinedPooled.to_type(dtype);
        return new Sd3Conditioning(embeds.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Both CLIPs as `encode_prompt` uses them: their penultimate states joined along the width (B, 77, L + G, not yet
    /// padded to T5's width) and their projected pooled vectors joined (B, L' + G'), in the encoders' dtype.
    /// </summary>
    public static (Tensor States, Tensor Pooled) EncodeClips(ClipTextEncoder clipL, TextTokenizer clipLTokenizer, ClipTextEncoder clipG,
        TextTokenizer clipGTokenizer, IReadOnlyList<string> prompts)
    {
        using var scope = NewDisposeScope();
        var (lStates, lPooled) = EncodeClip(clipL, clipLTokenizer, prompts);
        var (gStates, gPooled) = EncodeClip(clipG, clipGTokenizer, prompts);
        return (cat([lStates, gStates], -1).MoveToOuterDisposeScope(), cat([lPooled, gPooled], -1).MoveToOuterDisposeScope());
    }

    /// <summary>`_get_clip_prompt_embeds`: 77 tokens, no mask; the penultimate layer's states and the projected pooled vector.</summary>
    static (Tensor States, Tensor Pooled) EncodeClip(ClipTextEncoder clip, TextTokenizer tokenizer, IReadOnlyList<string> prompts)
    {
        var (ids, _) = tokenizer.EncodeBatch(prompts, ClipLength);
        var output = clip.forward(ids.to(ComputeDevice.Of(clip)));
        return (output.PenultimateHiddenState, output.TextEmbeds!);
    }

    /// <summary>Generates one image per prompt; <paramref name="onStep"/> is called after each denoising step.</summary>
    /// <param name="textEncoder3">Fills the T5 slot for this call (prompts and negative prompts) instead of the pipeline's own encoder.</param>
    public GeneratedImages Generate(Sd3Request request, Action<int>? onStep = null, T5SlotEncoder? textEncoder3 = null)
    {
        if (request.Steps < 1) throw new ArgumentOutOfRangeException(nameof(request), request.Steps, "steps must be at least 1");
        if (request.NegativePrompts is { } negatives && negatives.Count != request.Prompts.Count)
            throw new ArgumentException($"{negatives.Count} negative prompts for {request.Prompts.Count} prompts: give one per prompt, or none");
        var denoiser = new Sd3Denoiser(Transformer);
        var timings = new List<(string, TimeSpan)>();
        var clock = Stopwatch.StartNew();
        void Lap(string stage) { timings.Add((stage, clock.Elapsed)); clock.Restart(); }

        using var _ = no_grad();
        TextEncoders(); // (re)loaded outside this call's dispose scope, which would otherwise take their weights
        using var scope = NewDisposeScope();
        using var positive = EncodePrompts(request.Prompts, request.MaxSequenceLength, textEncoder3);
        using var negative = ClassifierFreeGuidance.IsActive(request.GuidanceScale)
            ? EncodePrompts(request.NegativePrompts ?? request.Prompts.Select(_ => "").ToList(), request.MaxSequenceLength, textEncoder3)
            : null;
        if (FreeTextEncodersAfterEncoding) FreeTextEncoders();
        Lap("encode prompts");

        var latents = SeededNoise.Draw(request.Prompts.Count, request.Seed, request.SeedEachPrompt,
            (batch, generator) => denoiser.InitialLatents(batch, request.Height, request.Width, Vae.Config.DownscaleFactor, generator,
                positive.PromptEmbeds.dtype));
        latents = denoiser.Denoise(latents, Scheduler.Sd3Inference(request.Steps), positive, negative, request.GuidanceScale, onStep);
        Lap("denoise");

        var vaeLatents = Vae.UnscaleLatents(latents.to_type(Vae.DType));
        var decoded = request.VaeTileSize is { } tile ? Vae.DecodeTiled(vaeLatents, tile) : Vae.Decode(vaeLatents);
        var images = ImagePng.Denormalize(decoded).cpu();
        Lap("decode");
        return new GeneratedImages(images.MoveToOuterDisposeScope(), timings);
    }

    public Device Device => ComputeDevice.Of(Transformer);

    public IReadOnlyList<(string Part, nn.Module Module)> WeightedParts =>
        [("transformer", Transformer), ("vae", Vae), ("text_encoder", ClipL), ("text_encoder_2", ClipG), .. T5 is { } t5 ? [("text_encoder_3", t5.Module)] : Array.Empty<(string, nn.Module)>()];

    /// <summary>diffusers' default T5 length for SD3 (256), capped by `tokenizer_3`'s model_max_length.</summary>
    public int MaxSequenceLength =>
        TextTokenizer.ModelMaxLength(Path.Combine(Source, "tokenizer_3")) is { } length ? Math.Min(length, 256) : 256;

    public GeneratedImages Draw(SlotRequest request, T5SlotEncoder? slot = null, Action<int>? onStep = null) =>
        Generate(RequestOf(request), onStep, slot);

    /// <summary>
    /// The SD3 call of <paramref name="request"/>: SD3 always guides from the negative prompt (empty when none) at the
    /// guidance scale, so a true-CFG scale is refused.
    /// </summary>
    public static Sd3Request RequestOf(SlotRequest request)
    {
        if (request.TrueCfgScale > 1)
            throw new ArgumentException($"true CFG {request.TrueCfgScale}: SD3 always uses classifier-free guidance, at the guidance scale ({request.Guidance})");
        return new Sd3Request(request.Prompts, request.Seed, request.Steps, request.Guidance, request.Width, request.Height,
            NegativePrompts: string.IsNullOrEmpty(request.NegativePrompt) ? null : request.Prompts.Select(_ => request.NegativePrompt).ToList(),
            MaxSequenceLength: request.MaxSequenceLength);
    }

    public void Dispose()
    {
        foreach (var component in _owned) component.Dispose();
        FreeTextEncoders();
    }
}
