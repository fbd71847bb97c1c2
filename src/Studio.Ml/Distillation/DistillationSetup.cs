using System.Security.Cryptography;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// Loads what a run needs from its configuration: the teacher pipeline's frozen transformer and tokenizer, the student,
/// the prompts, and the teacher-embedding cache, which it fills first (loading the teacher encoder only for that,
/// and releasing it before training starts).
/// </summary>
public sealed class DistillationSetup : IDisposable
{
    public required DistillationContext Context { get; init; }
    public required string TeacherFolder { get; init; }
    TeacherEmbeddingCache? _cache;
    FluxSampleRenderer? _samples;

    public static string ResolveTeacherFolder(RunConfig config) =>
        BuiltInSources.TeacherFolder(config.Teacher.Pipeline) ?? config.ResolvePath(config.Teacher.Pipeline);

    /// <summary>Checks the configuration against the model folders without loading weights; returns every problem found.</summary>
    public static IReadOnlyList<string> Validate(RunConfig config)
    {
        var problems = new List<string>(RunConfigChecks.Values(config));
        if (config.Stages.Count == 0) problems.Add("stages: a run needs at least one stage");
        if (config.Loss is not ("vision" or "naive")) problems.Add($"loss: '{config.Loss}' is not vision or naive");
        if (config.Optimizer.BatchSize < 1) problems.Add("optimizer.batch_size: must be at least 1");
        if (config.Trajectory.Steps < 1) problems.Add("trajectory.steps: must be at least 1");
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

        var teacher = ResolveTeacherFolder(config);
        foreach (var part in new[] { "transformer/config.json", "tokenizer_2", "text_encoder_2/config.json" })
            if (!File.Exists(Path.Combine(teacher, part)) && !Directory.Exists(Path.Combine(teacher, part)))
                problems.Add($"teacher.pipeline: {teacher} lacks {part}");
        problems.AddRange(RunConfigChecks.AgainstTeacher(config, teacher));
        if (problems.Count > 0) return problems;

        // The student's projection must produce the width the transformer reads, which must be the teacher encoder's.
        var transformer = FluxTransformerConfig.Load(Path.Combine(teacher, "transformer", "config.json"));
        var teacherT5 = T5Config.Load(Path.Combine(teacher, "text_encoder_2", "config.json"));
        if (teacherT5.DModel != transformer.JointAttentionDim)
            problems.Add($"teacher.pipeline: text_encoder_2 d_model {teacherT5.DModel} differs from transformer joint_attention_dim {transformer.JointAttentionDim}");
        var student = StudentPresets.Resolve(config.Student);
        if (student.VocabSize != teacherT5.VocabSize)
            problems.Add($"student: vocabulary {student.VocabSize} differs from the teacher tokenizer's model ({teacherT5.VocabSize}); teacher and student share token ids");
        if (config.Student.Init is { } initFolder)
        {
            var initConfig = T5Config.Load(Path.Combine(config.ResolvePath(initFolder), "config.json"));
            if (initConfig.VocabSize != teacherT5.VocabSize)
                problems.Add($"student.init: vocabulary {initConfig.VocabSize} differs from the teacher's {teacherT5.VocabSize}");
        }
        return problems;
    }

    public static DistillationSetup Prepare(RunConfig config, string cacheDirectory, ITrainingReporter reporter, CancellationToken cancel)
    {
        var problems = Validate(config);
        if (problems.Count > 0) throw new RunConfigException("run configuration", string.Join("; ", problems));
        var device = ComputeDevice.Parse(config.Device, "device");
        var teacherFolder = ResolveTeacherFolder(config);
        void Progress(string message) => reporter.Event(new TrainingEvent(TrainingEventKind.Progress, 0, 0, message));

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
            .SelectMany(PromptsOf).Select(p => p.Text).Concat(config.Samples.Prompts).Distinct().ToList();

        // Teacher-embedding cache: fill what is missing with the teacher encoder, then release it.
        var tokenizer = T5Tokenizer.Load(Path.Combine(teacherFolder, "tokenizer_2"));
        var teacher = FillCache(teacherFolder, allPrompts, config.Text.MaxLength, config.Text.AttentionMask,
            DType.ParseFriendly(config.Cache.Dtype), cacheDirectory, device, Progress, cancel, out var cache);
        cancel.ThrowIfCancellationRequested();

        Progress("loading the frozen transformer");
        var transformer = FluxTransformer.FromPretrained(Path.Combine(teacherFolder, "transformer"), DType.ParseFriendly(config.Teacher.Dtype));
        transformer.to(device);

        var studentConfig = StudentPresets.Resolve(config.Student);
        Progress($"building the student ({config.Student.Preset}, d_model {studentConfig.DModel}, {studentConfig.NumLayers} layers" +
                 (config.Student.Init is null ? ", random init)" : $", from {config.Student.Init})"));
        var student = StudentEncoder.Create(studentConfig, transformer.Config.JointAttentionDim, config.Student.ProjectionDropout, config.Seed,
            config.Student.Init is { } init ? config.ResolvePath(init) : null);
        student.to(device);
        var samples = config.Samples.Every > 0 && config.Samples.Prompts.Count > 0 ? new FluxSampleRenderer(teacherFolder, transformer, student) : null;

        return new DistillationSetup
        {
            _samples = samples,
            TeacherFolder = teacherFolder,
            _cache = cache,
            Context = new DistillationContext
            {
                Transformer = transformer,
                Student = student,
                Tokenize = (texts, maxLength) => tokenizer.EncodeBatch(texts, maxLength),
                Teacher = teacher,
                Prompts = PromptsOf,
                Samples = samples,
                VaeScaleFactor = VaeScaleFactor(teacherFolder),
                Device = device,
            },
        };
    }

    /// <summary>
    /// Puts the teacher T5 states of <paramref name="prompts"/> (slice <paramref name="shard"/> of <paramref name="shards"/>)
    /// into the cache at <paramref name="cacheDirectory"/>, loading the teacher encoder only when something is missing.
    /// </summary>
    public static CachedTeacher FillCache(string teacherFolder, IReadOnlyList<string> prompts, int maxLength, bool attentionMask,
        ScalarType storeAs, string cacheDirectory, Device device, Action<string> progress, CancellationToken cancel,
        out TeacherEmbeddingCache cache, int shard = 0, int shards = 1)
    {
        var tokenizer = T5Tokenizer.Load(Path.Combine(teacherFolder, "tokenizer_2"));
        var tokenizerId = TokenizerFingerprint(Path.Combine(teacherFolder, "tokenizer_2"));
        progress("fingerprinting the teacher encoder");
        var fingerprint = ModelFingerprint.Of(Path.Combine(teacherFolder, "text_encoder_2"), Path.Combine(cacheDirectory, "fingerprints"));
        var store = cache = new TeacherEmbeddingCache(cacheDirectory);
        var teacher = new CachedTeacher(store, fingerprint, tokenizerId, maxLength);
        var missing = prompts.Count(p => !store.Contains(teacher.Key(p)));
        progress($"teacher-embedding cache: {prompts.Count - missing} of {prompts.Count} prompts cached, {missing} to encode");
        if (missing == 0) return teacher;
        using var encoder = T5Encoder.Load(Path.Combine(teacherFolder, "text_encoder_2")).Model;
        encoder.to(device);
        var lastReport = DateTime.MinValue;
        var result = teacher.Fill(prompts, batch =>
        {
            var (ids, mask) = tokenizer.EncodeBatch(batch, maxLength);
            using (ids) using (mask) using (no_grad())
            using (var onDevice = ids.to(device))
            using (var maskOnDevice = mask.to(device))
                return encoder.forward(onDevice, attentionMask ? maskOnDevice : null).cpu();
        }, storeAs, shard: shard, shards: shards, progress: p =>
        {
            if (DateTime.UtcNow - lastReport < TimeSpan.FromSeconds(1) && p.Done < p.Total) return;
            lastReport = DateTime.UtcNow;
            progress($"filling the teacher-embedding cache: {p.Done}/{p.Total}");
        }, cancel: cancel);
        progress($"teacher-embedding cache: {result.Encoded} encoded, {result.Hits} already cached, {store.BytesOnDisk / (1 << 20)} MB on disk");
        return teacher;
    }

    /// <summary>Pixels per latent cell of the teacher's VAE (8 for FLUX.1); 8 when the folder has no `vae/`.</summary>
    static int VaeScaleFactor(string teacherFolder)
    {
        var config = Path.Combine(teacherFolder, "vae", "config.json");
        return File.Exists(config) ? AutoencoderKLConfig.Load(config).DownscaleFactor : 8;
    }

    static string TokenizerFingerprint(string folder)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file)));
            sha.AppendData(File.ReadAllBytes(file));
        }
        return "t5:" + Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    public void Dispose()
    {
        _samples?.Dispose();
        Context.Transformer.Dispose();
        Context.Student.Dispose();
        _cache?.Dispose();
    }
}
