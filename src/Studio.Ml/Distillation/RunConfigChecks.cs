using Studio.Ml.Diffusion;
using Studio.Ml.Tensors;
using Studio.Ml.Text;

namespace Studio.Ml.Distillation;

/// <summary>
/// The value checks of a run configuration that need no model folder: each problem starts with the YAML path of the
/// field at fault ("optimizer.lr: ..."), so the web form can show it at that field. Part of <see cref="DistillationSetup.Validate"/>.
/// </summary>
public static class RunConfigChecks
{
    /// <summary>
    /// Upper bounds far past any real run (FLUX.1 draws at up to 2,048 px; T5-XXL is d_model 4,096, d_ff 10,240, 24
    /// layers): a zero too many is refused at the form rather than running a worker, the web host's own included, out of memory.
    /// </summary>
    public const int MaxResolution = 4096, MaxBatch = 4096, MaxSteps = 1000, MaxNoises = 64, MaxPromptsPerCategory = 100_000,
        MaxWidth = 65_536, MaxLayers = 256, MaxThreads = 1024;

    public static IEnumerable<string> Values(RunConfig c)
    {
        if (string.IsNullOrWhiteSpace(c.Name)) yield return "name: a run needs a name";
        if (DTypeProblem(c.Teacher.Dtype) is { } teacherDtype) yield return $"teacher.dtype: {teacherDtype}";
        if (c.Student.ProjectionDropout is < 0 or >= 1) yield return $"student.projection_dropout: {c.Student.ProjectionDropout} is not in [0, 1)";
        foreach (var (field, value) in new[] { ("d_model", c.Student.DModel), ("num_layers", c.Student.NumLayers), ("num_heads", c.Student.NumHeads), ("d_kv", c.Student.DKv), ("d_ff", c.Student.DFf) })
            if (value is < 1) yield return $"student.{field}: must be at least 1";
            else if (value > (field == "num_layers" ? MaxLayers : MaxWidth)) yield return $"student.{field}: {value} is more than {(field == "num_layers" ? MaxLayers : MaxWidth):N0}";
        if (c.Text.MaxLength is < 1 or > 512) yield return $"text.max_length: {c.Text.MaxLength} is not between 1 and 512";

        var t = c.Trajectory;
        if (t.UpdateEvery < 1) yield return "trajectory.update_every: must be at least 1";
        foreach (var step in t.UpdateSteps.Where(s => s < 0 || s >= t.Steps))
            yield return $"trajectory.update_steps: {step} is not a step index of a {t.Steps}-step trajectory (0 to {t.Steps - 1})";
        foreach (var problem in t.Guidance.Select(GuidanceScale.Problem).OfType<string>())
            yield return $"trajectory.guidance: {problem}";

        var o = c.Optimizer;
        if (!(o.Lr > 0)) yield return $"optimizer.lr: {o.Lr} must be positive";
        if (o.Beta1 is < 0 or >= 1) yield return $"optimizer.beta1: {o.Beta1} is not in [0, 1)";
        if (o.Beta2 is < 0 or >= 1) yield return $"optimizer.beta2: {o.Beta2} is not in [0, 1)";
        if (!(o.Eps > 0)) yield return $"optimizer.eps: {o.Eps} must be positive";
        if (o.WeightDecay < 0) yield return $"optimizer.weight_decay: {o.WeightDecay} must not be negative";
        if (o.GradClip < 0) yield return $"optimizer.grad_clip: {o.GradClip} must not be negative (0 = no clipping)";
        if (!(o.Ema >= 0 && o.Ema < 1)) yield return $"optimizer.ema: {o.Ema} must be 0 (no average) or between 0 and 1 (0.999 is usual)";
        if (o.EmaStart < 0) yield return $"optimizer.ema_start: {o.EmaStart} must not be negative (0: the average starts at the first update)";
        if (o.Schedule is not ("constant" or "cosine")) yield return $"optimizer.schedule: '{o.Schedule}' is not constant or cosine";
        if (o.WarmupUpdates < 0) yield return "optimizer.warmup_updates: must not be negative";
        if (o.GradAccumulation < 1) yield return "optimizer.grad_accumulation: must be at least 1";
        else if (o.GradAccumulation > MaxBatch) yield return $"optimizer.grad_accumulation: {o.GradAccumulation} is more than {MaxBatch:N0}";
        if (o.BatchSize > MaxBatch) yield return $"optimizer.batch_size: {o.BatchSize} is more than {MaxBatch:N0}";

        foreach (var (stage, i) in c.Stages.Select((s, i) => (s, i)))
        {
            if (string.IsNullOrWhiteSpace(stage.Name)) yield return $"stages[{i}].name: a stage needs a name";
            if (stage.Resolution < 16) yield return $"stages[{i}].resolution: {stage.Resolution} is below 16";
            else if (stage.Resolution > MaxResolution) yield return $"stages[{i}].resolution: {stage.Resolution} is more than {MaxResolution:N0}";
            if (stage.Lr is { } lr && !(lr > 0)) yield return $"stages[{i}].lr: {lr} must be positive";
            foreach (var problem in Sources(stage.Prompts, $"stages[{i}].prompts")) yield return problem;
        }

        if (c.Checkpoints.Every < 1) yield return "checkpoints.every: must be at least 1";
        if (c.Checkpoints.Keep < 0) yield return "checkpoints.keep: must not be negative (0 = keep all)";
        if (c.Checkpoints.KeepBest && (c.Validation.Every < 1 || c.Validation.Prompts.Count == 0))
            yield return "checkpoints.keep_best: needs validation (validation.every and validation.prompts) to tell the best checkpoint";
        else if (c.Checkpoints.KeepBest && c.Checkpoints.Every >= 1 && c.Checkpoints.Every % c.Validation.Every != 0)
            yield return $"checkpoints.keep_best: checkpoints.every ({c.Checkpoints.Every}) must be a multiple of validation.every ({c.Validation.Every}), so each checkpoint is validated";
        if (c.Samples.Every < 0) yield return "samples.every: must not be negative (0 = no samples)";
        if (c.Samples.Steps < 1) yield return "samples.steps: must be at least 1";
        else if (c.Samples.Steps > MaxSteps) yield return $"samples.steps: {c.Samples.Steps} is more than {MaxSteps:N0}";
        if (GuidanceScale.Problem(c.Samples.Guidance) is { } badGuidance) yield return $"samples.guidance: {badGuidance}";
        if (c.Samples.Prompts.Count > 0 && c.Samples.Seeds.Count == 0) yield return "samples.seeds: give at least one seed";
        if (c.Samples.Resolution < 0 || c.Samples.Resolution % 16 != 0) yield return $"samples.resolution: {c.Samples.Resolution} is not 0 or a multiple of 16";
        else if (c.Samples.Resolution > MaxResolution) yield return $"samples.resolution: {c.Samples.Resolution} is more than {MaxResolution:N0}";
        if (c.Validation.Every < 0) yield return "validation.every: must not be negative (0 = no validation)";
        if (c.Validation.PromptsPerCategory < 1) yield return "validation.prompts_per_category: must be at least 1";
        else if (c.Validation.PromptsPerCategory > MaxPromptsPerCategory) yield return $"validation.prompts_per_category: {c.Validation.PromptsPerCategory} is more than {MaxPromptsPerCategory:N0}";
        if (c.Validation.Noises < 1) yield return "validation.noises: must be at least 1";
        else if (c.Validation.Noises > MaxNoises) yield return $"validation.noises: {c.Validation.Noises} is more than {MaxNoises}";
        if (!ValidationConfig.PruneRules.Contains(c.Validation.Prune)) yield return $"validation.prune: '{c.Validation.Prune}' is not none, median or halving";
        else if (c.Validation.Prune != "none" && (c.Validation.Every < 1 || c.Validation.Prompts.Count == 0))
            yield return "validation.prune: needs validation (validation.every and validation.prompts) to compare the run with its group";
        if (c.Validation.PruneFactor < 2) yield return $"validation.prune_factor: {c.Validation.PruneFactor} must be at least 2 (halving keeps the best 1/prune_factor of the runs)";
        if (c.Validation.Patience < 0) yield return "validation.patience: must not be negative (0 = never stop early)";
        else if (c.Validation.Patience > 0 && (c.Validation.Every < 1 || c.Validation.Prompts.Count == 0))
            yield return "validation.patience: needs validation (validation.every and validation.prompts) to tell whether the run still improves";
        foreach (var problem in Sources(c.Validation.Prompts, "validation.prompts")) yield return problem;
        if (DTypeProblem(c.Cache.Dtype) is { } cacheDtype) yield return $"cache.dtype: {cacheDtype}";
        if (ComputeDevice.Problem(c.Device, "device") is { } device) yield return device;
        if (c.Threads < 0) yield return "threads: must not be negative (0 = LibTorch's default)";
        else if (c.Threads > MaxThreads) yield return $"threads: {c.Threads} is more than {MaxThreads:N0}";
    }

    /// <summary>The teacher's T5-slot tokenizer (tokenizer_2, SD3's tokenizer_3) names the longest prompt its T5 was trained on (the toy teacher: 32 tokens).</summary>
    public static IEnumerable<string> AgainstTeacher(RunConfig c, string tokenizer)
    {
        if (TextTokenizer.ModelMaxLength(tokenizer) is { } limit && c.Text.MaxLength > limit)
            yield return $"text.max_length: {c.Text.MaxLength} exceeds the teacher tokenizer's model_max_length {limit} ({Path.Combine(tokenizer, "tokenizer_config.json")})";
    }

    static IEnumerable<string> Sources(IEnumerable<PromptSource> sources, string field)
    {
        foreach (var source in sources)
        {
            if (string.IsNullOrWhiteSpace(source.Set)) { yield return $"{field}: a prompt source needs a set"; continue; }
            if (!(source.Weight > 0)) yield return $"{field}: '{source.Set}' weight {source.Weight} must be positive";
            if (source.Repeat < 1) yield return $"{field}: '{source.Set}' repeat must be at least 1";
            if (BuiltInSources.PromptSetFamilyOf(source.Set)?.Problem(source.Set) is { } problem) yield return $"{field}: {problem}";
        }
    }

    static string? DTypeProblem(string name)
    {
        try { DType.ParseFriendly(name); return null; }
        catch (FormatException e) { return e.Message; }
    }
}
