using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Generations;
using Studio.Core.ModelRegistry;
using Studio.Core.Runs;

namespace Studio.Web.Components.Generations;

/// <summary>
/// What the Generate form offers: the registered teacher pipelines, and every student encoder (checkpoints of any run,
/// registered students) by its key in the form's multi-select and the name it shows.
/// </summary>
public sealed record GenerateChoices(List<ModelEntry> Teachers, Dictionary<string, string> Students);

/// <summary>The Generate page's reads and actions: its choices, queueing one generation per prompt line, and the history.</summary>
public sealed class GenerateService(IDbContextFactory<StudioDbContext> dbFactory, ModelService models, GenerationService generations, Studio.Core.StudioOptions options)
{
    /// <summary>A run checkpoint's key among <see cref="GenerateChoices.Students"/>.</summary>
    public static string CheckpointKey(int checkpointId) => $"c{checkpointId}";
    static string ModelKey(int modelId) => $"m{modelId}";

    /// <summary>The student keys of a past generation's images (those still offered are what "Use these settings" selects).</summary>
    public static IEnumerable<string> StudentKeys(Generation generation) =>
        generation.Images.Select(i => i.CheckpointId is { } c ? CheckpointKey(c) : i.ModelId is { } m ? ModelKey(m) : null).OfType<string>();

    /// <summary>The LoRA files under the allowed folders, offered in the LoRA field (a walk of the folders: asked for when the field is first used).</summary>
    public Task<IReadOnlyList<string>> LorasAsync(CancellationToken ct = default) => ModelDiscovery.FindLorasAsync(options, ct);

    /// <summary>Checkpoints whose files are there, newest run first, latest step first; then registered students by name.</summary>
    public async Task<GenerateChoices> ChoicesAsync(CancellationToken ct = default)
    {
        var teachers = await models.TeacherPipelinesAsync(ct);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var runs = await db.Runs.AsNoTracking().ToDictionaryAsync(r => r.Id, r => r.Name, ct);
        var checkpoints = (await db.Checkpoints.AsNoTracking().OrderByDescending(c => c.RunId).ThenByDescending(c => c.Step).ToListAsync(ct))
            .Where(c => c.FilesPresent()).ToList();
        var students = await db.Models.AsNoTracking().Where(m => m.Kind != ModelKind.TeacherPipeline).OrderBy(m => m.Name).ToListAsync(ct);
        var names = checkpoints.ToDictionary(c => CheckpointKey(c.Id), c => $"run {c.RunId} ({runs.GetValueOrDefault(c.RunId)}) · step {c.Step}");
        foreach (var m in students) names[ModelKey(m.Id)] = $"{m.Name} ({m.Kind switch { ModelKind.ExportedStudent => "exported student", _ => "student init" }})";
        return new(teachers, names);
    }

    /// <summary>
    /// The teacher a checkpoint was trained with, among <paramref name="teachers"/> (the registered ones): its model id,
    /// or null with the run's teacher folder when it is not registered (null, null: the run or its YAML is gone).
    /// </summary>
    public async Task<(int? ModelId, string? Folder)> TeacherOfCheckpointAsync(int checkpointId, IReadOnlyList<ModelEntry> teachers, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var yaml = await (from c in db.Checkpoints where c.Id == checkpointId join r in db.Runs on c.RunId equals r.Id select r.ConfigYaml).SingleOrDefaultAsync(ct);
        if (yaml is null) return (null, null);
        string folder;
        try { folder = Studio.Core.Evaluations.EvaluationService.TeacherPipeline(Studio.Core.Evaluations.EvaluationService.ConfigOf(options, yaml)); }
        catch (RunActionException) { return (null, null); }
        var same = teachers.FirstOrDefault(m => m.Folder == folder
            || (folder != ModelFolders.ToyTeacher && m.Folder != ModelFolders.ToyTeacher && Path.GetFullPath(m.Folder) == Path.TrimEndingDirectorySeparator(folder)));
        return (same?.Id, same is null ? folder : null);
    }

    /// <summary>
    /// What "Open in Generate" fills the form with for a checkpoint: its run's samples (the YAML's samples.prompts, the
    /// first seed and as many after it as the run's seeds run on consecutively, steps, guidance, and the resolution the
    /// checkpoint's stage drew them at), so the form draws the run's samples again; null when the run has no sample
    /// prompts or its YAML does not read.
    /// </summary>
    public async Task<CheckpointSamples?> SamplesOfCheckpointAsync(int checkpointId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var row = await (from c in db.Checkpoints where c.Id == checkpointId join r in db.Runs on c.RunId equals r.Id select new { r.ConfigYaml, c.Stage })
            .SingleOrDefaultAsync(ct);
        if (row is null) return null;
        Studio.Ml.Distillation.RunConfig config;
        try { config = Studio.Core.Evaluations.EvaluationService.ConfigOf(options, row.ConfigYaml); }
        catch (RunActionException) { return null; }
        var samples = config.Samples;
        if (samples.Prompts.Count == 0) return null;
        var prompts = samples.Prompts.Take(MaxGenerations).ToList();
        var first = samples.Seeds.FirstOrDefault();
        var seeds = Math.Min(samples.Seeds.TakeWhile((seed, i) => seed == first + i).Count(), Math.Max(1, Math.Min(MaxSeeds, MaxGenerations / prompts.Count)));
        var resolution = samples.Resolution > 0 ? samples.Resolution
            : config.Stages.Count > 0 ? config.Stages[Math.Clamp(row.Stage, 0, config.Stages.Count - 1)].Resolution : 0;
        return new CheckpointSamples(prompts, first, Math.Max(seeds, 1), samples.Steps, samples.Guidance, resolution);
    }

    /// <summary>Registers a teacher pipeline folder (a checkpoint's run's, from the page's warning); refused as the Models page refuses.</summary>
    public Task<ModelEntry> RegisterTeacherAsync(string folder, CancellationToken ct = default) => models.RegisterAsync(null, ModelKind.TeacherPipeline, folder, ct);

    /// <summary>The most seeds per prompt, and generations per request, the form queues at once.</summary>
    public const int MaxSeeds = 16, MaxGenerations = 64;

    /// <summary>
    /// Queues one generation per non-empty line of <paramref name="promptLines"/> and per seed (<paramref name="seeds"/>
    /// of them: the settings' seed, seed + 1, ...), each as <paramref name="settings"/> asks with the
    /// <paramref name="students"/> chosen (keys of <see cref="GenerateChoices.Students"/>). A refusal comes as
    /// <see cref="RunActionException"/>; the generations before it stay queued. Answers the ids queued, in order.
    /// </summary>
    public async Task<List<int>> RequestAsync(string? promptLines, GenerationRequest settings, IReadOnlyCollection<string> students, int seeds = 1, CancellationToken ct = default)
    {
        var prompts = (promptLines ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (prompts.Length == 0) throw new RunActionException("the prompt is empty");
        if (seeds is < 1 or > MaxSeeds) throw new RunActionException($"seeds: {seeds} is not between 1 and {MaxSeeds}");
        if (prompts.Length * seeds > MaxGenerations)
            throw new RunActionException($"{prompts.Length} prompts x {seeds} seeds = {prompts.Length * seeds} generations: at most {MaxGenerations} at once");
        var checkpointIds = students.Where(k => k[0] == 'c').Select(k => int.Parse(k[1..])).ToList();
        var modelIds = students.Where(k => k[0] == 'm').Select(k => int.Parse(k[1..])).ToList();
        var queued = new List<int>();
        foreach (var prompt in prompts)
            for (var s = 0; s < seeds; s++)
                queued.Add((await generations.RequestAsync(settings with { Prompt = prompt, Seed = settings.Seed + s, CheckpointIds = checkpointIds, StudentModelIds = modelIds }, ct)).Id);
        return queued;
    }

    /// <summary>The newest <paramref name="take"/> generations, newest first.</summary>
    public Task<List<Generation>> HistoryAsync(int take = HistoryPage, CancellationToken ct = default) => generations.HistoryAsync(take, ct);

    /// <summary>How many generations the page shows at first, and adds per "Older generations".</summary>
    public const int HistoryPage = 50;

    public Task<Generation> CancelAsync(int id, CancellationToken ct = default) => generations.CancelAsync(id, ct);
}

/// <summary>A run's sample settings as the Generate form takes them (<see cref="GenerateService.SamplesOfCheckpointAsync"/>); Resolution 0: unknown.</summary>
public sealed record CheckpointSamples(IReadOnlyList<string> Prompts, long Seed, int Seeds, int Steps, double Guidance, int Resolution);
