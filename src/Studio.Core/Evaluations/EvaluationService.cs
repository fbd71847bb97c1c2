using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Generations;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.ModelRegistry;
using Studio.Core.Runs;
using Studio.Ml.Distillation;
using Studio.Ml.Toy;

namespace Studio.Core.Evaluations;

/// <summary>
/// What is evaluated with which settings (the defaults are `studio eval`'s). Evaluations are comparable only with the
/// same split, prompts per category, seeds, steps and guidance, and the same LoRA merged into the transformer (and CLIP) for the
/// teacher's images and the student's alike (<paramref name="Lora"/> at <paramref name="LoraScale"/>; null: none):
/// does a student still follow its teacher with the teacher's LoRAs?
/// </summary>
public sealed record EvaluationSettings(string Split = "heldout", int PromptsPerCategory = 10, int Seeds = 1, int Steps = 20, double Guidance = 3.5,
    string? Lora = null, double LoraScale = 1)
{
    public const int MaxPromptsPerCategory = 200;
    public const int MaxSeeds = 16;

    /// <summary>How the settings are named wherever evaluations are grouped or listed: "heldout · 10/category · 1 seed(s) · 20 steps · guidance 3.5".</summary>
    public string Key => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{Split} · {PromptsPerCategory}/category · {Seeds} seed(s) · {Steps} steps · guidance {Guidance:0.##}{(string.IsNullOrWhiteSpace(Lora) ? "" : $" · LoRA {Lora} × {LoraScale:0.###}")}");

    /// <summary>The settings with each value given, the default for each left out.</summary>
    public static EvaluationSettings Of(string? split, int? promptsPerCategory, int? seeds, int? steps, double? guidance, string? lora = null, double? loraScale = null)
    {
        var d = new EvaluationSettings();
        return new EvaluationSettings(split ?? d.Split, promptsPerCategory ?? d.PromptsPerCategory, seeds ?? d.Seeds, steps ?? d.Steps, guidance ?? d.Guidance,
            string.IsNullOrWhiteSpace(lora) ? null : lora, loraScale ?? d.LoraScale);
    }

    public void Validate()
    {
        if (Split is not ("heldout" or "train")) throw new RunActionException($"split '{Split}' is not heldout or train");
        if (PromptsPerCategory is < 1 or > MaxPromptsPerCategory) throw new RunActionException($"prompts per category must be between 1 and {MaxPromptsPerCategory} (got {PromptsPerCategory})");
        if (Seeds is < 1 or > MaxSeeds) throw new RunActionException($"seeds must be between 1 and {MaxSeeds} (got {Seeds})");
        if (Steps is < 1 or > GenerationService.MaxSteps) throw new RunActionException($"steps must be between 1 and {GenerationService.MaxSteps} (got {Steps})");
        if (Studio.Ml.Diffusion.GuidanceScale.Problem(Guidance) is { } badGuidance) throw new RunActionException($"guidance: {badGuidance}");
        if (!double.IsFinite(LoraScale) || Math.Abs(LoraScale) > LoraCheck.MaxScale)
            throw new RunActionException($"loraScale must be a number between -{LoraCheck.MaxScale} and {LoraCheck.MaxScale} (got {LoraScale})");
    }
}

/// <summary>
/// How a teacher pipeline is evaluated: a toy-world teacher (<see cref="ToyWorld"/>) on the toy criteria; any other
/// FLUX or SD3 teacher by teacher agreement at <see cref="Resolution"/> px with <see cref="MaxSequenceLength"/> T5 tokens.
/// </summary>
public sealed record EvaluatedPipeline(string Folder, bool ToyWorld, int Resolution, int MaxSequenceLength)
{
    /// <summary>Writes the image settings onto a row: nothing for the toy world (its fixed 64 px and 32 tokens).</summary>
    public CheckpointEvaluation ApplyTo(CheckpointEvaluation row)
    {
        (row.Pipeline, row.Resolution, row.MaxSequenceLength) = (Folder, ToyWorld ? null : Resolution, ToyWorld ? null : MaxSequenceLength);
        return row;
    }
}

/// <summary>
/// Queues evaluations of checkpoints and teachers on <see cref="Queue"/> and lists them. Whoever serves the
/// `interactive` queue serves that one too, after it, so a generation asked for in the browser does not wait behind a
/// run's checkpoint evaluations.
/// </summary>
public class EvaluationService(IDbContextFactory<StudioDbContext> dbFactory, IBackgroundJobClient jobs, IEvaluationBroadcaster broadcaster, StudioOptions options)
{
    /// <summary>
    /// Served after `interactive` (<see cref="Hosting.StudioServices.ServedQueues"/>): Hangfire.Storage.SQLite takes a
    /// server's queues in the order listed, Hangfire.PostgreSql in the names' order, and this name sorts after it.
    /// </summary>
    public const string Queue = "interactive_evaluations";

    /// <summary>
    /// Stops a queued or running evaluation: a queued one is cancelled at once; a running one stops between images
    /// once its worker sees the deleted job, or ends cancelled when it finishes first (no scores are stored).
    /// </summary>
    public async Task<CheckpointEvaluation> CancelAsync(int id, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var evaluation = await db.Evaluations.SingleOrDefaultAsync(v => v.Id == id, ct) ?? throw RunActionException.Missing($"evaluation {id}");
        if (!evaluation.IsActive)
            throw new RunActionException($"evaluation {id} is {evaluation.State.ToString().ToLowerInvariant()}, not queued or running");
        if (evaluation.HangfireJobId is not null) jobs.Delete(evaluation.HangfireJobId);
        if (evaluation.State == EvaluationState.Queued)
        {
            evaluation.State = EvaluationState.Cancelled;
            evaluation.FinishedAt = DateTime.UtcNow;
            evaluation.Activity = null;
        }
        else evaluation.Activity = JobProgress.Cancelling;
        await db.SaveChangesAsync(ct);
        await broadcaster.PublishAsync(evaluation, ct);
        // A queued one never runs: the checkpoint it held past checkpoints.keep is released here (a running one's job does it).
        if (evaluation.State == EvaluationState.Cancelled && evaluation is { RunId: { } runId, CheckpointId: not null })
            await Artifacts.CheckpointRetention.ReleaseAsync(dbFactory, runId, runs: null);
        return evaluation;
    }

    /// <summary>The LoRA files an evaluation may merge (<see cref="ModelDiscovery.FindLorasAsync"/>), for Compare's LoRA field.</summary>
    public Task<IReadOnlyList<string>> LorasAsync(CancellationToken ct = default) => ModelDiscovery.FindLorasAsync(options, ct);

    /// <summary>Evaluates one checkpoint in its run's teacher pipeline.</summary>
    public async Task<CheckpointEvaluation> RequestCheckpointAsync(int checkpointId, EvaluationSettings? settings = null, CancellationToken ct = default)
    {
        settings ??= new EvaluationSettings();
        settings.Validate();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var checkpoint = await db.Checkpoints.AsNoTracking().SingleOrDefaultAsync(c => c.Id == checkpointId, ct)
                         ?? throw new RunActionException($"no checkpoint {checkpointId}");
        if (!checkpoint.FilesPresent()) throw new RunActionException(checkpoint.FilesGone());
        var run = await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == checkpoint.RunId, ct)
                  ?? throw new RunActionException($"no run {checkpoint.RunId}");
        var config = ConfigOf(options, run.ConfigYaml, $"run {run.Id}");
        var pipeline = Evaluable(options, config, $"run {run.Id}'s teacher pipeline");
        return await QueueAsync(db, pipeline.ApplyTo(new CheckpointEvaluation
        {
            RunId = run.Id, CheckpointId = checkpoint.Id, Step = checkpoint.Step, Pipeline = pipeline.Folder,
            Encoder = $"run {run.Id} · step {checkpoint.Step}", SizeLabel = config.Student.Preset, Loss = config.Loss.Word(),
        }), settings, ct);
    }

    /// <summary>Evaluates the latest checkpoint of each run whose files are there (a run without one is refused, naming it).</summary>
    public async Task<List<CheckpointEvaluation>> RequestLatestCheckpointsAsync(IReadOnlyCollection<int> runIds, EvaluationSettings? settings = null, CancellationToken ct = default)
    {
        if (runIds.Count == 0) throw new RunActionException("select at least one run");
        List<(int RunId, int? CheckpointId)> latest;
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
        {
            var known = await db.Runs.Where(r => runIds.Contains(r.Id)).Select(r => r.Id).ToListAsync(ct);
            if (runIds.Except(known).ToList() is { Count: > 0 } unknown) throw new RunActionException($"no run {string.Join(", ", unknown)}");
            latest = [];
            foreach (var runId in runIds)
                latest.Add((runId, (await db.Checkpoints.AsNoTracking().Where(c => c.RunId == runId).OrderByDescending(c => c.Step).ToListAsync(ct))
                    .FirstOrDefault(c => c.FilesPresent())?.Id));
        }
        if (latest.Where(l => l.CheckpointId is null).Select(l => l.RunId).ToList() is { Count: > 0 } without)
            throw new RunActionException($"run {string.Join(", ", without)} has no checkpoint yet (or none whose files are there)");
        var queued = new List<CheckpointEvaluation>();
        foreach (var (_, checkpointId) in latest) queued.Add(await RequestCheckpointAsync(checkpointId!.Value, settings, ct));
        return queued;
    }

    /// <summary>
    /// Evaluates a teacher pipeline with its own T5 ("toy": the built-in toy teacher): the reference line of the scaling
    /// chart. A teacher outside the toy world is drawn at the size a run's YAML has by default (512 px, 77 tokens):
    /// <see cref="RequestRunTeacherOnceAsync"/> draws it at a run's own.
    /// </summary>
    public async Task<CheckpointEvaluation> RequestTeacherAsync(string pipeline = ModelFolders.ToyTeacher, EvaluationSettings? settings = null, CancellationToken ct = default) =>
        await RequestTeacherAsync(Evaluable(options, string.IsNullOrWhiteSpace(pipeline) ? ModelFolders.ToyTeacher : pipeline.Trim(), new RunConfig(), "the teacher pipeline"), settings, ct);

    /// <summary>Evaluates a teacher pipeline as <see cref="Evaluable(StudioOptions, string, RunConfig, string)"/> found it.</summary>
    public async Task<CheckpointEvaluation> RequestTeacherAsync(EvaluatedPipeline pipeline, EvaluationSettings? settings, CancellationToken ct = default)
    {
        settings ??= new EvaluationSettings();
        settings.Validate();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await QueueAsync(db, pipeline.ApplyTo(new CheckpointEvaluation { Pipeline = pipeline.Folder, Encoder = "teacher", SizeLabel = "teacher" }), settings, ct);
    }

    /// <summary>
    /// The teacher of run <paramref name="runId"/> evaluated with <paramref name="settings"/> (null: the defaults), unless such an evaluation of it is
    /// done, waiting or running: the dashed line of a run's evaluation over training. Queued before the run's checkpoints,
    /// it draws the teacher's images their differences compare with. A done one without a CLIP score does not count
    /// where this worker has a CLIP model (Studio:ClipModel): the checkpoints will have the score, and the teacher's line
    /// of it would be missing. Null when nothing was queued.
    /// </summary>
    public async Task<CheckpointEvaluation?> RequestRunTeacherOnceAsync(int runId, EvaluationSettings? settings = null, CancellationToken ct = default)
    {
        settings ??= new EvaluationSettings();
        EvaluatedPipeline pipeline;
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
        {
            var run = await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, ct) ?? throw new RunActionException($"no run {runId}");
            pipeline = Evaluable(options, ConfigOf(options, run.ConfigYaml, $"run {run.Id}"), $"run {run.Id}'s teacher pipeline");
            var key = SettingsKey(pipeline, settings);
            var known = await db.Evaluations.AsNoTracking()
                .Where(v => v.RunId == null && v.Pipeline == pipeline.Folder && v.State != EvaluationState.Failed && v.State != EvaluationState.Cancelled)
                .ToListAsync(ct);
            var scoresClip = options.JobClipModel is not null;
            if (known.Any(v => v.SettingsKey == key && !(scoresClip && v.State == EvaluationState.Completed && v.ClipScore is null))) return null;
        }
        return await RequestTeacherAsync(pipeline, settings, ct);
    }

    /// <summary>
    /// The settings key the evaluations a run asked for carry (<see cref="CheckpointEvaluation.SettingsKey"/>: with the
    /// agreement size when its teacher is outside the toy world); the settings alone when its teacher cannot be read.
    /// </summary>
    public string AutoEvaluationKey(Run run)
    {
        var settings = AutoEvaluation.Of(run).EffectiveSettings;
        try { return SettingsKey(Evaluable(options, ConfigOf(options, run.ConfigYaml, $"run {run.Id}"), $"run {run.Id}'s teacher pipeline"), settings); }
        catch (RunActionException) { return settings.Key; }
    }

    /// <summary>The settings key of an evaluation of <paramref name="pipeline"/> with <paramref name="settings"/>.</summary>
    static string SettingsKey(EvaluatedPipeline pipeline, EvaluationSettings settings) => ApplySettings(
        pipeline.ApplyTo(new CheckpointEvaluation { Pipeline = pipeline.Folder, Encoder = "" }),
        settings with { Lora = string.IsNullOrWhiteSpace(settings.Lora) ? null : Path.GetFullPath(settings.Lora.Trim()) }).SettingsKey;

    /// <summary>
    /// The teacher pipelines of these runs, each as its run evaluates it (for "evaluate the teacher"); a run whose YAML
    /// cannot be read is left out, a teacher that cannot be evaluated is refused, naming it.
    /// </summary>
    public async Task<List<EvaluatedPipeline>> TeacherPipelinesAsync(IReadOnlyCollection<int> runIds, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var runs = await db.Runs.AsNoTracking().Where(r => runIds.Contains(r.Id)).OrderBy(r => r.Id).ToListAsync(ct);
        var configs = runs.Select(r =>
        {
            try { return (Run: r, Config: ConfigOf(options, r.ConfigYaml, $"run {r.Id}")); }
            catch (RunActionException) { return (Run: r, Config: (RunConfig?)null); }
        }).Where(c => c.Config is not null).ToList();
        return configs.Select(c => Evaluable(options, c.Config!, $"run {c.Run.Id}'s teacher pipeline")).Distinct().ToList();
    }

    /// <summary>Evaluations, newest first: of these runs and the teachers (null: all).</summary>
    public async Task<List<CheckpointEvaluation>> ListAsync(IReadOnlyCollection<int>? runIds = null, bool includeTeachers = true, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.Evaluations.AsNoTracking();
        if (runIds is not null) query = query.Where(v => (v.RunId != null && runIds.Contains(v.RunId.Value)) || (includeTeachers && v.RunId == null));
        else if (!includeTeachers) query = query.Where(v => v.RunId != null);
        return await query.OrderByDescending(v => v.Id).ToListAsync(ct);
    }

    public async Task<CheckpointEvaluation?> FindAsync(int id, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Evaluations.AsNoTracking().SingleOrDefaultAsync(v => v.Id == id, ct);
    }

    /// <summary>How run <paramref name="config"/>'s teacher is evaluated (<see cref="Evaluable(StudioOptions, string, RunConfig, string)"/>).</summary>
    public static EvaluatedPipeline Evaluable(StudioOptions options, RunConfig config, string what) => Evaluable(options, TeacherPipeline(config), config, what);

    /// <summary>
    /// How a teacher pipeline is evaluated. The toy evaluator scores toy scenes, so only pipelines of the toy world are
    /// scored: the built-in toy teacher ("toy") or a folder `studio toy pretrain` wrote (its README.md starts with
    /// "# Toy teacher"). Any other FLUX or SD3 pipeline folder is measured by teacher agreement, at <paramref name="config"/>'s
    /// sample resolution (its last stage's when samples.resolution is 0) and text.max_length. Refused, naming why: a
    /// folder outside the allowed ones, missing, without a model_index.json or with one that cannot be read.
    /// </summary>
    public static EvaluatedPipeline Evaluable(StudioOptions options, string pipeline, RunConfig config, string what)
    {
        if (pipeline == ModelFolders.ToyTeacher) return new EvaluatedPipeline(pipeline, true, ToyImage.Size, RunPresets.ToyTextLength);
        if (new PathGuard(options).Problem(pipeline) is { } refused) throw new RunActionException($"{what}: {refused}");
        pipeline = Path.GetFullPath(pipeline);
        if (!Directory.Exists(pipeline)) throw new RunActionException($"{what} {pipeline}: no such folder");
        if (ToyTeacher.Is(pipeline)) return new EvaluatedPipeline(pipeline, true, ToyImage.Size, RunPresets.ToyTextLength);
        // The family is read now, so that a folder whose model_index.json is missing or damaged is refused here, not by the job.
        if (!File.Exists(Path.Combine(pipeline, "model_index.json")))
            throw new RunActionException($"{what} {pipeline}: no model_index.json (a teacher pipeline is a diffusers pipeline folder)");
        try { TeacherFamily.Of(pipeline); }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            throw new RunActionException($"{what} {pipeline}: {e.Message}");
        }
        var resolution = config.Samples.Resolution > 0 ? config.Samples.Resolution : config.Stages.LastOrDefault()?.Resolution ?? new StageConfig().Resolution;
        return new EvaluatedPipeline(pipeline, false, resolution, config.Text.MaxLength);
    }

    /// <summary>A run's YAML, with relative paths resolved as its worker resolves them (against the data directory).</summary>
    public static RunConfig ConfigOf(StudioOptions options, string configYaml, string source = "run YAML")
    {
        try
        {
            var config = RunConfig.FromYaml(configYaml, source);
            config.BaseDirectory ??= options.ResolvedDataDirectory;
            return config;
        }
        catch (RunConfigException e) { throw new RunActionException(e.Message); }
    }

    /// <summary>The teacher pipeline a configuration names: the built-in "toy", or its folder resolved (<see cref="ConfigOf"/>).</summary>
    public static string TeacherPipeline(RunConfig config) =>
        config.Teacher.Pipeline == ModelFolders.ToyTeacher ? ModelFolders.ToyTeacher : config.ResolvePath(config.Teacher.Pipeline);

    /// <summary>Writes the settings onto a row (a LoRA's scale only with a LoRA).</summary>
    static CheckpointEvaluation ApplySettings(CheckpointEvaluation row, EvaluationSettings settings)
    {
        (row.Split, row.PromptsPerCategory, row.Seeds, row.Steps, row.Guidance) =
            (settings.Split, settings.PromptsPerCategory, settings.Seeds, settings.Steps, settings.Guidance);
        (row.LoraPath, row.LoraScale) = string.IsNullOrWhiteSpace(settings.Lora) ? (null, 1) : (settings.Lora, settings.LoraScale);
        return row;
    }

    async Task<CheckpointEvaluation> QueueAsync(StudioDbContext db, CheckpointEvaluation evaluation, EvaluationSettings settings, CancellationToken ct)
    {
        ApplySettings(evaluation, settings with { Lora = LoraCheck.Resolve(options, settings.Lora, settings.LoraScale, evaluation.Pipeline) });
        // The same evaluation already waiting or running is not queued twice.
        var same = await db.Evaluations.AsNoTracking().Where(v => v.RunId == evaluation.RunId && v.CheckpointId == evaluation.CheckpointId
                && v.Pipeline == evaluation.Pipeline && (v.State == EvaluationState.Queued || v.State == EvaluationState.Running))
            .ToListAsync(ct);
        if (same.FirstOrDefault(v => v.SettingsKey == evaluation.SettingsKey) is { } active) return active;
        db.Evaluations.Add(evaluation);
        await db.SaveChangesAsync(ct);
        var id = evaluation.Id;
        evaluation.HangfireJobId = jobs.Create(Job.FromExpression<EvaluationJob>(j => j.Execute(id, CancellationToken.None)), new EnqueuedState(Queue));
        await db.SaveChangesAsync(ct);
        await broadcaster.PublishAsync(evaluation, ct);
        return evaluation;
    }
}
