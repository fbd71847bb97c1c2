using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;

namespace Studio.Core.Generations;

/// <summary>
/// A Generate request: one prompt, one noise, the teacher's encoder and/or any checkpoints of any runs and registered
/// exported students (<paramref name="StudentModelIds"/>). No teacher model: the built-in toy teacher. Steps, width and
/// height left out are the teacher pipeline's (<see cref="GenerationService.Defaults"/>). A <paramref name="TrueCfgScale"/>
/// above 1 is diffusers' true classifier-free guidance against <paramref name="NegativePrompt"/> ("": the empty prompt).
/// <paramref name="Lora"/> (a .safetensors LoRA of the transformer, and of CLIP if it has such layers) is merged into them, at
/// <paramref name="LoraScale"/>, for every image: the teacher's and the students' alike.
/// </summary>
public sealed record GenerationRequest(string Prompt, long Seed = 0, int? Steps = null, double Guidance = 3.5,
    int? Width = null, int? Height = null, int? TeacherModelId = null, bool IncludeTeacher = true, IReadOnlyList<int>? CheckpointIds = null,
    IReadOnlyList<int>? StudentModelIds = null, double TrueCfgScale = 1, string NegativePrompt = "", string? Lora = null, double LoraScale = 1);

/// <summary>Queues generations on the `interactive` queue (ahead of long runs) and lists their history.</summary>
/// <remarks><paramref name="options"/>: the allowed folders a request's LoRA must be in (null: no LoRA is accepted).</remarks>
public class GenerationService(IDbContextFactory<StudioDbContext> dbFactory, IBackgroundJobClient jobs, IGenerationBroadcaster broadcaster,
    StudioOptions? options = null)
{
    public const string Queue = "interactive";
    public const int MaxSide = 2048;
    public const int MaxSteps = 200;
    public const int MaxPromptChars = 4000;

    /// <summary>Width, height and steps of a request that leaves them out: a toy teacher (the built-in one or one `studio toy pretrain` wrote) draws 64x64 scenes in 20 steps, other pipelines 512x512 in 28.</summary>
    public static (int Width, int Height, int Steps) Defaults(string teacherFolder) =>
        Studio.Ml.Toy.ToyTeacher.Is(ModelRegistry.ModelFolders.Resolve(teacherFolder)) ? Studio.Ml.Toy.ToyTeacher.Defaults : (512, 512, 28);

    /// <summary>Whether a teacher folder holds an SD3 pipeline (a folder that cannot be read is not: its job says why).</summary>
    public static bool IsSd3(string teacherFolder)
    {
        if (teacherFolder == ModelRegistry.ModelFolders.ToyTeacher) return false;
        try { return Studio.Ml.Distillation.TeacherFamily.Of(teacherFolder) == Studio.Ml.Distillation.ModelFamily.Sd3; }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException or IOException or UnauthorizedAccessException) { return false; }
    }

    public async Task<Data.Generation> RequestAsync(GenerationRequest request, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(request.Prompt)) throw new RunActionException("prompt: the prompt is empty");
        if (request.Prompt.Length > MaxPromptChars) throw new RunActionException($"prompt: {request.Prompt.Length:N0} characters is over the limit of {MaxPromptChars:N0}");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var teacherFolder = request.TeacherModelId is { } teacherId
            ? await db.Models.Where(m => m.Id == teacherId && m.Kind == ModelKind.TeacherPipeline).Select(m => m.Folder).SingleOrDefaultAsync(ct)
              ?? throw new RunActionException($"teacherModelId: no teacher pipeline {teacherId}")
            : ModelRegistry.ModelFolders.ToyTeacher;
        var defaults = Defaults(teacherFolder);
        var (steps, width, height) = (request.Steps ?? defaults.Steps, request.Width ?? defaults.Width, request.Height ?? defaults.Height);
        if (steps is < 1 or > MaxSteps) throw new RunActionException($"steps must be between 1 and {MaxSteps} (got {steps})");
        foreach (var (name, side) in new[] { ("width", width), ("height", height) })
            if (side < 64 || side > MaxSide || side % 16 != 0)
                throw new RunActionException($"{name} must be a multiple of 16 between 64 and {MaxSide} (got {side})");
        if (Studio.Ml.Diffusion.GuidanceScale.Problem(request.Guidance) is { } badGuidance) throw new RunActionException($"guidance: {badGuidance}");
        if (!double.IsFinite(request.TrueCfgScale) || request.TrueCfgScale < 1) throw new RunActionException($"trueCfgScale must be a number of at least 1 (1: off; got {request.TrueCfgScale})");
        if (request.NegativePrompt.Length > MaxPromptChars) throw new RunActionException($"negativePrompt: {request.NegativePrompt.Length:N0} characters is over the limit of {MaxPromptChars:N0}");
        if (request.TrueCfgScale > 1 && IsSd3(teacherFolder))
            throw new RunActionException($"trueCfgScale: an SD3 teacher always guides from the negative prompt at its guidance scale (guidance); leave trueCfgScale at 1 (got {request.TrueCfgScale})");
        var lora = ModelRegistry.LoraCheck.Resolve(options, request.Lora, request.LoraScale, teacherFolder);
        var checkpointIds = request.CheckpointIds ?? [];
        var studentModelIds = request.StudentModelIds ?? [];
        if (!request.IncludeTeacher && checkpointIds.Count == 0 && studentModelIds.Count == 0)
            throw new RunActionException("includeTeacher: select the teacher or at least one checkpoint");

        var checkpoints = await db.Checkpoints.Where(c => checkpointIds.Contains(c.Id)).ToListAsync(ct);
        var missing = checkpointIds.Except(checkpoints.Select(c => c.Id)).ToList();
        if (missing.Count > 0) throw new RunActionException($"checkpointIds: no checkpoint {string.Join(", ", missing)}");
        if (checkpoints.FirstOrDefault(c => !c.FilesPresent()) is { } gone) throw new RunActionException($"checkpointIds: {gone.FilesGone()}");
        var students = await db.Models.Where(m => studentModelIds.Contains(m.Id) && m.Kind != ModelKind.TeacherPipeline).ToListAsync(ct);
        var missingModels = studentModelIds.Except(students.Select(m => m.Id)).ToList();
        if (missingModels.Count > 0) throw new RunActionException($"studentModelIds: no student model {string.Join(", ", missingModels)}");

        var generation = new Data.Generation
        {
            Prompt = request.Prompt.Trim(), Seed = request.Seed, Steps = steps, Guidance = request.Guidance,
            TrueCfgScale = request.TrueCfgScale, NegativePrompt = request.NegativePrompt.Trim(),
            Width = width, Height = height, TeacherModelId = request.TeacherModelId,
            LoraPath = lora, LoraScale = lora is null ? 1 : request.LoraScale,
        };
        if (request.IncludeTeacher) generation.Images.Add(new GenerationImage { Encoder = "teacher" });
        foreach (var c in checkpoints.OrderBy(c => c.RunId).ThenBy(c => c.Step))
            generation.Images.Add(new GenerationImage { Encoder = $"run {c.RunId} · step {c.Step}", CheckpointId = c.Id });
        foreach (var m in students.OrderBy(m => m.Name))
            generation.Images.Add(new GenerationImage { Encoder = m.Name, ModelId = m.Id });
        db.Generations.Add(generation);
        await db.SaveChangesAsync(ct);
        var id = generation.Id;
        generation.HangfireJobId = jobs.Create(Job.FromExpression<GenerationJob>(j => j.Execute(id, CancellationToken.None)), new EnqueuedState(Queue));
        await db.SaveChangesAsync(ct);
        await broadcaster.PublishAsync(generation, ct);
        return generation;
    }

    /// <summary>
    /// Stops a queued or running generation: a queued one is cancelled at once; a running one stops between denoising
    /// steps once its worker sees the deleted job, keeping the images already written.
    /// </summary>
    public async Task<Data.Generation> CancelAsync(int id, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var generation = await db.Generations.Include(g => g.Images).SingleOrDefaultAsync(g => g.Id == id, ct)
                         ?? throw RunActionException.Missing($"generation {id}");
        if (generation.State is not (GenerationState.Queued or GenerationState.Running))
            throw new RunActionException($"generation {id} is {generation.State.ToString().ToLowerInvariant()}, not queued or running");
        if (generation.HangfireJobId is not null) jobs.Delete(generation.HangfireJobId);
        if (generation.State == GenerationState.Queued)
        {
            generation.State = GenerationState.Cancelled;
            generation.FinishedAt = DateTime.UtcNow;
            generation.Activity = null;
            foreach (var image in generation.Images.Where(i => i.State == GenerationState.Queued)) image.State = GenerationState.Cancelled;
        }
        else generation.Activity = JobProgress.Cancelling;
        await db.SaveChangesAsync(ct);
        await broadcaster.PublishAsync(generation, ct);
        return generation;
    }

    public async Task<List<Data.Generation>> HistoryAsync(int take = 50, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await NewestFirst(db, null).Take(take).ToListAsync(ct);
    }

    /// <summary>
    /// The newest <paramref name="take"/> generations with an id below <paramref name="before"/> (all when null), with
    /// how many there are in all and the id to read before for the next page (null: none left).
    /// </summary>
    public async Task<(List<Data.Generation> Page, int Total, int? Next)> HistoryPageAsync(int take, int? before, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var page = await NewestFirst(db, before).Take(take + 1).ToListAsync(ct);
        var next = page.Count > take ? page[take - 1].Id : (int?)null;
        return (page.Take(take).ToList(), await db.Generations.CountAsync(ct), next);
    }

    /// <summary>The generations with their images, newest first; with <paramref name="before"/>, those with a lower id.</summary>
    static IQueryable<Data.Generation> NewestFirst(StudioDbContext db, int? before) =>
        db.Generations.AsNoTracking().Where(g => before == null || g.Id < before).Include(g => g.Images).OrderByDescending(g => g.Id);

    /// <summary>
    /// The figure of the generations <paramref name="wanted"/> (the rows in that order; see <see cref="GenerationFigure"/>)
    /// as PNG bytes, reading only images inside the artifact folders (<paramref name="mayRead"/>). An unknown id is
    /// refused naming it.
    /// </summary>
    public async Task<byte[]> FigureAsync(IReadOnlyList<int> wanted, Func<string, bool> mayRead, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var found = await db.Generations.AsNoTracking().Include(g => g.Images).Where(g => wanted.Contains(g.Id)).ToDictionaryAsync(g => g.Id, ct);
        if (wanted.FirstOrDefault(id => !found.ContainsKey(id)) is var missing and > 0) throw new RunActionException($"no generation {missing}");
        return GenerationFigure.Png(wanted.Select(id => found[id]).ToList(), mayRead);
    }

    public async Task<Data.Generation?> FindAsync(int id, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Generations.AsNoTracking().Include(g => g.Images).SingleOrDefaultAsync(g => g.Id == id, ct);
    }
}
