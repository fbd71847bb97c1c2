using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Studio.Ml.Diffusion;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.Sd3;
using Studio.Ml.Models.T5;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// Loads what a run needs from its configuration: the teacher pipeline's family (<see cref="TeacherFamily"/>), its
/// frozen denoiser and T5-slot tokenizer, the student, the prompts, and the teacher-embedding cache, which it fills
/// first (loading the teacher's text encoders only for that, and releasing them before training starts).
/// </summary>
public sealed class DistillationSetup : IDisposable
{
    public required DistillationContext Context { get; init; }
    public required string TeacherFolder { get; init; }
    TeacherEmbeddingCache? _cache;
    ISampleRenderer? _samples;

    public static string ResolveTeacherFolder(RunConfig config) =>
        BuiltInSources.TeacherFolder(config.Teacher.Pipeline) ?? config.ResolvePath(config.Teacher.Pipeline);

    /// <summary>Checks the configuration against the model folders without loading weights; returns every problem found.</summary>
    public static IReadOnlyList<string> Validate(RunConfig config)
    {
        var problems = new List<string>(RunConfigChecks.Values(config));
        if (config.Stages.Count == 0) problems.Add("stages: a run needs at least one stage");
        if (config.Optimizer.BatchSize < 1) problems.Add("optimizer.batch_size: must be at least 1");
        if (config.Trajectory.Steps < 1) problems.Add("trajectory.steps: must be at least 1");
        else if (config.Trajectory.Steps > RunConfigChecks.MaxSteps) problems.Add($"trajectory.steps: {config.Trajectory.Steps} is more than {RunConfigChecks.MaxSteps:N0}");
        if (config.Trajectory.Guidance.Count == 0) problems.Add("trajectory.guidance: give at least one value");
        foreach (var (stage, i) in config.Stages.Select((s, i) => (s, i)))
        {
            if (stage.Updates < 1) problems.Add($"stages[{i}].updates: must be at least 1");
            if (stage.Resolution % 16 != 0) problems.Add($"stages[{i}].resolution: {stage.Resolution} is not a multiple of 16");
            if (stage.Prompts.Count == 0) problems.Add($"stages[{i}].prompts: give at least one prompt set");
            foreach (var source in stage.Prompts)
                if (!source.Set.StartsWith("toy:") && !File.Exists(config.ResolvePath(source.Set)))
                    problems.Add($"stages[{i}].prompts: file not found: {config.ResolvePath(source.Set)}");
        }
        foreach (var source in config.Validation.Prompts)
            if (!source.Set.StartsWith("toy:") && !File.Exists(config.ResolvePath(source.Set)))
                problems.Add($"validation.prompts: file not found: {config.ResolvePath(source.Set)}");
        try { StudentPresets.Resolve(config.Student); }
        catch (ArgumentException e) { problems.Add(e.Message); }
        if (config.Student.Init is { } init && !File.Exists(Path.Combine(config.ResolvePath(init), "config.json")))
            problems.Add($"student.init: {config.ResolvePath(init)} has no config.json (a T5 folder is expected)");
        // The cache is a folder the run creates when missing; one of its parents being a file makes that impossible.
        if (!string.IsNullOrWhiteSpace(config.Cache.Directory)
            && AtomicFile.FileInTheWay(config.ResolvePath(config.Cache.Directory)) is { } file)
            problems.Add($"cache.directory: {file} is a file, not a folder");

        // A teacher folder whose configs or tokenizer cannot be read is a problem of teacher.pipeline, named by its file.
        try { AddTeacherProblems(config, problems); }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException or IOException or UnauthorizedAccessException or FormatException)
        {
            problems.Add($"teacher.pipeline: {e.Message}");
        }
        return problems;
    }

    /// <summary>
    /// The configuration against the teacher folder's configs and tokenizer, added to <paramref name="problems"/>; the
    /// widths are compared only when nothing is wrong so far (reading the configs may throw).
    /// </summary>
    static void AddTeacherProblems(RunConfig config, List<string> problems)
    {
        var teacher = ResolveTeacherFolder(config);
        var family = TeacherFamily.Of(teacher);
        foreach (var part in TeacherFamily.Parts(family))
            if (!File.Exists(Path.Combine(teacher, part)) && !Directory.Exists(Path.Combine(teacher, part)))
                problems.Add($"teacher.pipeline: {teacher} lacks {part}");
        problems.AddRange(RunConfigChecks.AgainstTeacher(config, Path.Combine(teacher, TeacherFamily.SlotTokenizer(family))));
        if (problems.Count > 0) return;

        // The student's projection must produce the width the transformer reads, which must be the teacher encoder's.
        var slot = TeacherFamily.SlotEncoder(family);
        var transformerConfig = Path.Combine(teacher, "transformer", "config.json");
        var jointAttentionDim = family == ModelFamily.Sd3
            ? Sd3TransformerConfig.Load(transformerConfig).JointAttentionDim
            : FluxTransformerConfig.Load(transformerConfig).JointAttentionDim;
        var teacherT5 = T5Config.Load(Path.Combine(teacher, slot, "config.json"));
        if (teacherT5.DModel != jointAttentionDim)
            problems.Add($"teacher.pipeline: {slot} d_model {teacherT5.DModel} differs from transformer joint_attention_dim {jointAttentionDim}");
        var student = StudentPresets.Resolve(config.Student);
        if (student.VocabSize != teacherT5.VocabSize)
            problems.Add($"student: vocabulary {student.VocabSize} differs from the teacher tokenizer's model ({teacherT5.VocabSize}); teacher and student share token ids");
        if (config.Student.Init is { } initFolder)
        {
            T5Config initConfig;
            try { initConfig = T5Config.Load(Path.Combine(config.ResolvePath(initFolder), "config.json")); }
            catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException or IOException or UnauthorizedAccessException or FormatException)
            {
                problems.Add($"student.init: {e.Message}");
                return;
            }
            if (initConfig.VocabSize != teacherT5.VocabSize)
                problems.Add($"student.init: vocabulary {initConfig.VocabSize} differs from the teacher's {teacherT5.VocabSize}");
        }
    }

    /// <param name="resuming">The student's weights will come from a checkpoint: the progress line says so, not "random init".</param>
    public static DistillationSetup Prepare(RunConfig config, string cacheDirectory, ITrainingReporter reporter, CancellationToken cancel, bool resuming = false)
    {
        var problems = Validate(config);
        if (problems.Count > 0) throw new RunConfigException("run configuration", string.Join("; ", problems));
        var device = ComputeDevice.Parse(config.Device, "device");
        var teacherFolder = ResolveTeacherFolder(config);
        var family = TeacherFamily.Of(teacherFolder);
        void Progress(string message) => reporter.Event(ProgressEvent(message));

        // Prompts of every stage and of validation.
        var prompts = new Dictionary<string, IReadOnlyList<Prompt>>();
        IReadOnlyList<Prompt> PromptsOf(PromptSource source)
        {
            if (!prompts.TryGetValue(source.Set, out var list))
                prompts[source.Set] = list = PromptSources.Resolve(source, config.ResolvePath,
                    warning => reporter.Event(new TrainingEvent(TrainingEventKind.Warning, 0, 0, warning)));
            return list;
        }
        var allPrompts = config.Stages.SelectMany(s => s.Prompts).Concat(config.Validation.Prompts)
            .SelectMany(PromptsOf).Select(p => p.Text).Concat(config.Samples.Prompts)
            .Concat(family == ModelFamily.Sd3 ? [NegativePrompt] : []).Distinct().ToList();

        // Teacher-embedding cache: fill what is missing with the teacher's text encoders, then release them.
        var tokenizer = T5Tokenizer.Load(Path.Combine(teacherFolder, TeacherFamily.SlotTokenizer(family)));
        var teacher = FillCache(teacherFolder, allPrompts, config.Text.MaxLength, config.Text.AttentionMask,
            DType.ParseFriendly(config.Cache.Dtype), cacheDirectory, device, reporter.Event, cancel, out var cache);
        cancel.ThrowIfCancellationRequested();

        Progress($"loading the frozen {family} transformer");
        var denoiser = LoadDenoiser(teacherFolder, family, DType.ParseFriendly(config.Teacher.Dtype), device, teacher, config.Text.ZeroPooled);

        var studentConfig = StudentPresets.Resolve(config.Student);
        Progress($"building the student ({config.Student.Preset}, d_model {studentConfig.DModel}, {studentConfig.NumLayers} layers" +
                 (resuming ? "; its weights come from the checkpoint)" : config.Student.Init is null ? ", random init)" : $", from {config.Student.Init})"));
        var student = StudentEncoder.Create(studentConfig, denoiser.SlotWidth, config.Student.ProjectionDropout, config.Seed,
            config.Student.Init is { } init ? config.ResolvePath(init) : null);
        student.to(device);
        var samples = config.Samples.Every > 0 && config.Samples.Prompts.Count > 0 ? denoiser.SampleRenderer(teacherFolder, student) : null;

        return new DistillationSetup
        {
            _samples = samples,
            TeacherFolder = teacherFolder,
            _cache = cache,
            Context = new DistillationContext
            {
                Denoiser = denoiser,
                Student = student,
                Tokenize = (texts, maxLength) => tokenizer.EncodeBatch(texts, maxLength),
                Teacher = teacher,
                Prompts = PromptsOf,
                Samples = samples,
                Device = device,
            },
        };
    }

    /// <summary>SD3's classifier-free guidance runs against the empty prompt (StableDiffusion3Pipeline's default negative prompt).</summary>
    const string NegativePrompt = "";

    /// <summary>
    /// The family's frozen denoiser on <paramref name="device"/>: its transformer in <paramref name="dtype"/>, the
    /// teacher's scheduler config (the family's default when the folder has none) and VAE factor; for SD3 also the
    /// teacher's conditioning of the empty prompt, which guidance runs against.
    /// </summary>
    static IFrozenDenoiser LoadDenoiser(string teacherFolder, ModelFamily family, ScalarType dtype, Device device, ITeacherConditioning teacher, bool zeroPooled)
    {
        var schedulerPath = Path.Combine(teacherFolder, "scheduler", "scheduler_config.json");
        var transformerFolder = Path.Combine(teacherFolder, "transformer");
        if (family == ModelFamily.Flux)
        {
            var flux = new FrozenFlux(FluxTransformer.FromPretrained(transformerFolder, dtype),
                File.Exists(schedulerPath) ? FlowMatchSchedulerConfig.Load(schedulerPath) : FlowMatchSchedulerConfig.Flux, VaeScaleFactor(teacherFolder));
            flux.Module.to(device);
            return flux;
        }
        var transformer = Sd3Transformer.FromPretrained(transformerFolder, dtype);
        transformer.to(device);
        string[] negative = [NegativePrompt];
        using var cached = new TextConditioning(teacher.States(negative), teacher.Kept(negative),
            zeroPooled ? zeros(1, transformer.Config.PooledProjectionDim, device: CPU) : teacher.Pooled(negative));
        return new FrozenSd3(transformer, File.Exists(schedulerPath) ? FlowMatchSchedulerConfig.Load(schedulerPath) : FlowMatchSchedulerConfig.Sd3,
            cached.To(dtype, device), VaeScaleFactor(teacherFolder));
    }

    static TrainingEvent ProgressEvent(string message, IReadOnlyDictionary<string, string>? data = null) =>
        new(TrainingEventKind.Progress, 0, 0, message, data);

    /// <summary>
    /// Puts the teacher's conditioning of <paramref name="prompts"/> (slice <paramref name="shard"/> of
    /// <paramref name="shards"/>) into the cache at <paramref name="cacheDirectory"/>: the T5 slot's states, and for
    /// SD3 also both CLIPs' states and pooled vectors; each encoder is loaded only when something is missing.
    /// <paramref name="progress"/> receives Progress events; while prompts are encoded (at most every
    /// <see cref="FillProgressInterval"/>, and at the end) they carry <see cref="TrainingEventData.Done"/> and
    /// <see cref="TrainingEventData.Total"/> and say the prompts done, of how many, and the time left.
    /// </summary>
    public static ITeacherConditioning FillCache(string teacherFolder, IReadOnlyList<string> prompts, int maxLength, bool attentionMask,
        ScalarType storeAs, string cacheDirectory, Device device, Action<TrainingEvent> progress, CancellationToken cancel,
        out TeacherEmbeddingCache cache, int shard = 0, int shards = 1)
    {
        var family = TeacherFamily.Of(teacherFolder);
        var tokenizerFolder = Path.Combine(teacherFolder, TeacherFamily.SlotTokenizer(family));
        var encoderFolder = Path.Combine(teacherFolder, TeacherFamily.SlotEncoder(family));
        var fingerprints = Path.Combine(cacheDirectory, "fingerprints");
        var tokenizer = T5Tokenizer.Load(tokenizerFolder);
        progress(ProgressEvent("fingerprinting the teacher encoder"));
        var store = cache = new TeacherEmbeddingCache(cacheDirectory);
        var teacher = new CachedTeacher(store, ModelFingerprint.Of(encoderFolder, fingerprints), TokenizerFingerprint(tokenizerFolder), maxLength);
        Fill(teacher, "teacher-embedding cache", prompts, () =>
        {
            var encoder = T5Encoder.Load(encoderFolder).Model;
            encoder.to(device);
            return (encoder, batch =>
            {
                var (ids, mask) = tokenizer.EncodeBatch(batch, maxLength);
                using (ids) using (mask) using (no_grad())
                using (var onDevice = ids.to(device))
                using (var maskOnDevice = mask.to(device))
                    return encoder.forward(onDevice, attentionMask ? maskOnDevice : null).cpu();
            });
        }, storeAs, store, progress, cancel, shard, shards);
        if (family == ModelFamily.Flux) return teacher;

        // SD3 keeps both CLIPs beside the T5 slot: their states and pooled vectors are cached as well.
        string[] clipParts = ["text_encoder", "text_encoder_2"], tokenizerParts = ["tokenizer", "tokenizer_2"];
        progress(ProgressEvent("fingerprinting the CLIP encoders"));
        var clipFingerprint = string.Join("+", clipParts.Select(p => ModelFingerprint.Of(Path.Combine(teacherFolder, p), fingerprints)));
        var clipTokenizers = string.Join("+", tokenizerParts.Select(p => TokenizerFingerprint(Path.Combine(teacherFolder, p), "clip")));
        var clipStates = new CachedTeacher(store, "clip-states:" + clipFingerprint, clipTokenizers, Sd3Pipeline.ClipLength);
        var clipPooled = new CachedTeacher(store, "clip-pooled:" + clipFingerprint, clipTokenizers, Sd3Pipeline.ClipLength);
        var clipTokenizer = tokenizerParts.Select(p => TextTokenizer.Load(Path.Combine(teacherFolder, p))).ToArray();
        foreach (var (part, pooled) in new[] { (clipStates, false), (clipPooled, true) })
            Fill(part, pooled ? "CLIP pooled cache" : "CLIP states cache", prompts, () =>
            {
                var encoders = clipParts.Select(p => ClipTextEncoder.Load(Path.Combine(teacherFolder, p)).Model).ToArray();
                foreach (var e in encoders) e.to(device);
                return (new DisposeAll(encoders), batch =>
                {
                    using var _ = no_grad();
                    var (states, pooledVectors) = Sd3Pipeline.EncodeClips(encoders[0], clipTokenizer[0], encoders[1], clipTokenizer[1], batch);
                    using (states) using (pooledVectors) return (pooled ? pooledVectors : states).cpu();
                });
            }, storeAs, store, progress, cancel, shard, shards);
        return new CachedSd3Teacher(teacher, clipStates, clipPooled);
    }

    /// <summary>How often filling the cache reports its count (each report is a Progress event the run's log keeps).</summary>
    public static readonly TimeSpan FillProgressInterval = TimeSpan.FromSeconds(2);

    /// <summary>Fills one part of the cache, loading its encoder (<paramref name="load"/>) only when a prompt is missing.</summary>
    static void Fill(CachedTeacher teacher, string what, IReadOnlyList<string> prompts, Func<(IDisposable Encoder, Func<IReadOnlyList<string>, Tensor> Encode)> load,
        ScalarType storeAs, TeacherEmbeddingCache store, Action<TrainingEvent> progress, CancellationToken cancel, int shard, int shards)
    {
        var mine = CachedTeacher.Slice(prompts, shard, shards);
        var missing = mine.Count(p => !store.Contains(teacher.Key(p)));
        var slice = shards > 1 ? $" (slice {shard}/{shards} of {Count(prompts.Count)})" : "";
        progress(ProgressEvent($"{what}: {Count(mine.Count - missing)} of {Count(mine.Count)} prompts{slice} cached, {Count(missing)} to encode"));
        if (missing == 0) return;
        var (encoder, encode) = load();
        using var _ = encoder;
        var clock = Stopwatch.StartNew();
        var lastReport = DateTime.MinValue;
        var result = teacher.Fill(prompts, encode, storeAs, shard: shard, shards: shards, progress: p =>
        {
            if (DateTime.UtcNow - lastReport < FillProgressInterval && p.Done < p.Total) return;
            lastReport = DateTime.UtcNow;
            progress(FillEvent(what, p, clock.Elapsed));
        }, cancel: cancel);
        progress(ProgressEvent($"{what}: {Count(result.Encoded)} encoded, {Count(result.Hits)} already cached, {Count(store.BytesOnDisk / (1 << 20))} MB on disk"));
    }

    /// <summary>A count as the log writes it, with thousands separators (2,052).</summary>
    static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>"filling the WHAT: 1,234 / 8,000 prompts, ETA 3 min", with the counts as data; the time left is
    /// extrapolated from the prompts encoded so far in <paramref name="elapsed"/>.</summary>
    public static TrainingEvent FillEvent(string what, CachedTeacher.FillProgress p, TimeSpan elapsed)
    {
        var eta = "";
        var data = new Dictionary<string, string>
        {
            [TrainingEventData.Done] = p.Done.ToString(CultureInfo.InvariantCulture),
            [TrainingEventData.Total] = p.Total.ToString(CultureInfo.InvariantCulture),
        };
        if (p.Encoded > 0 && p.Done < p.Total)
        {
            var seconds = elapsed.TotalSeconds / p.Encoded * (p.Total - p.Done);
            eta = seconds < 90 ? $", ETA {seconds.ToString("0", CultureInfo.InvariantCulture)} s" : $", ETA {(seconds / 60).ToString("0", CultureInfo.InvariantCulture)} min";
            data[TrainingEventData.EtaSeconds] = seconds.ToString("0", CultureInfo.InvariantCulture);
        }
        return ProgressEvent($"filling the {what}: {Count(p.Done)} / {Count(p.Total)} prompts{eta}", data);
    }

    /// <summary>Pixels per latent cell of the teacher's VAE (8 for FLUX.1); 8 when the folder has no `vae/`.</summary>
    static int VaeScaleFactor(string teacherFolder)
    {
        var config = Path.Combine(teacherFolder, "vae", "config.json");
        return File.Exists(config) ? AutoencoderKLConfig.Load(config).DownscaleFactor : 8;
    }

    static string TokenizerFingerprint(string folder, string kind = "t5")
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file)));
            sha.AppendData(File.ReadAllBytes(file));
        }
        return kind + ":" + Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    public void Dispose()
    {
        _samples?.Dispose();
        Context.Denoiser.Dispose();
        Context.Student.Dispose();
        _cache?.Dispose();
    }
}
