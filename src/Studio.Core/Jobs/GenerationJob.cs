using Hangfire;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Generations;
using Studio.Core.Hosting;
using Studio.Core.Live;
using Studio.Core.ModelRegistry;
using Studio.Core.Artifacts;

namespace Studio.Core.Jobs;

/// <summary>
/// The Hangfire job of a Generate request (on the `interactive` queue): renders each encoder's image and records it as it
/// finishes, with a student's |Δ| and SSIM to the teacher's image and, when the worker has a CLIP model
/// (Studio:ClipModel), every image's CLIP score against the prompt.
/// </summary>
public class GenerationJob(IDbContextFactory<StudioDbContext> dbFactory, IGenerationExecutor executor, IGenerationBroadcaster broadcaster,
    StudioOptions options, WorkerIdentity worker)
{
    static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(300);

    [AutomaticRetry(Attempts = 0)]
    public async Task Execute(int generationId, CancellationToken ct)
    {
        GenerationExecution execution;
        await using (var db = await dbFactory.CreateDbContextAsync(CancellationToken.None))
        {
            var g = await db.Generations.Include(x => x.Images).SingleOrDefaultAsync(x => x.Id == generationId, CancellationToken.None);
            if (g is null || g.State != GenerationState.Queued) return;
            var checkpointIds = g.Images.Where(i => i.CheckpointId is not null).Select(i => i.CheckpointId!.Value).ToList();
            var modelIds = g.Images.Where(i => i.ModelId is not null).Select(i => i.ModelId!.Value).Append(g.TeacherModelId ?? -1).ToList();
            var checkpoints = await db.Checkpoints.Where(c => checkpointIds.Contains(c.Id)).ToDictionaryAsync(c => c.Id, c => c.Path, CancellationToken.None);
            var models = await db.Models.Where(m => modelIds.Contains(m.Id)).ToDictionaryAsync(m => m.Id, m => m.Folder, CancellationToken.None);
            var folder = ArtifactFolders.Generation(options, generationId);
            Directory.CreateDirectory(folder);
            g.State = GenerationState.Running;
            g.Worker = worker.Name;
            g.Device = options.JobDevice;
            g.DType = options.JobDType;
            g.Activity = "starting";
            var encoders = new List<GenerationEncoder>();
            // Every image is drawn by the chosen teacher pipeline; without it none is (never the built-in one instead).
            var noImage = g.TeacherModelId is { } chosen && !models.ContainsKey(chosen)
                ? $"teacher pipeline {chosen} was unregistered before the generation ran" : null;
            // The worker checks the LoRA against its own allowed folders before it opens it; without it no image is drawn.
            if (g.LoraPath is { } lora && new PathGuard(options).Problem(lora) is { } loraOutside) noImage ??= $"lora: {loraOutside}";
            // The teacher first: the students' difference images are taken against it.
            foreach (var image in g.Images.OrderBy(i => i.CheckpointId is not null || i.ModelId is not null).ThenBy(i => i.Id))
            {
                string? path = null, gone = noImage;
                if (image.CheckpointId is { } c && !checkpoints.TryGetValue(c, out path)) gone ??= $"checkpoint {c} was deleted";
                if (image.ModelId is { } m && !models.TryGetValue(m, out path)) gone ??= $"model {m} was unregistered";
                if (gone is not null)
                {
                    image.State = GenerationState.Failed;
                    image.Error = gone;
                    continue;
                }
                image.State = GenerationState.Running;
                encoders.Add(new GenerationEncoder(image.Id, image.Encoder, path is null ? null : ModelFolders.Resolve(path)));
            }
            await db.SaveChangesAsync(CancellationToken.None);
            await broadcaster.PublishStoredAsync(dbFactory, generationId);
            var teacher = g.TeacherModelId is { } t && models.TryGetValue(t, out var teacherFolder) ? ModelFolders.Resolve(teacherFolder) : null;
            execution = new GenerationExecution(g.Id, g.Prompt, g.Seed, g.Steps, g.Guidance, g.Width, g.Height, teacher, encoders, folder,
                g.Device, options.FreeTextEncoders, g.TrueCfgScale, g.NegativePrompt, options.JobDType, ClipModel(), g.LoraPath, g.LoraScale);
        }

        var progress = new ThrottledProgress(ProgressInterval, WriteProgress(generationId));
        // The TorchSharp Scalar hazard (docs/ARCHITECTURE.md, "TorchSharp temporaries") is a fault of this process, not of the request:
        // the images it spoiled (or, when it stopped the whole rendering, those not drawn yet) are drawn again, twice at most.
        JobOutcome outcome;
        var pending = execution.Encoders;
        var retriesLeft = RunJob.MaxScalarFaultResumes;
        while (true)
        {
            var spoiled = new HashSet<int>();
            var current = execution with { Encoders = pending };
            outcome = await JobOutcome.Of(async () =>
            {
                if (current.Encoders.Count > 0)
                    await executor.ExecuteAsync(current, image => ImageReadyAsync(image, spoiled, retriesLeft > 0), progress, ct);
            }, JobOutcome.IsBadRequest, ct);
            var faulted = !outcome.Completed && !outcome.Cancelled && RunJob.IsScalarFault(outcome.Error);
            if (retriesLeft == 0 || outcome.Cancelled || !faulted && spoiled.Count == 0) break;
            retriesLeft--;
            await using var db = await dbFactory.CreateDbContextAsync(CancellationToken.None);
            var running = await db.GenerationImages.Where(i => i.GenerationId == generationId && i.State == GenerationState.Running)
                .Select(i => i.Id).ToListAsync(CancellationToken.None);
            pending = pending.Where(e => running.Contains(e.ImageId)).ToList();
        }
        progress.Dispose(); // no held-back progress is written over the ending below
        var ending = outcome.Completed ? GenerationState.Completed : outcome.Cancelled ? GenerationState.Cancelled : GenerationState.Failed;
        var error = outcome.Error;

        await using var done = await dbFactory.CreateDbContextAsync(CancellationToken.None);
        var generation = await done.Generations.Include(x => x.Images).SingleAsync(x => x.Id == generationId, CancellationToken.None);
        // A cancel asked for in the last seconds, before the worker saw the deleted job, still cancels (keeping the images drawn).
        if (ending == GenerationState.Completed && generation.Activity == JobProgress.Cancelling) ending = GenerationState.Cancelled;
        foreach (var image in generation.Images.Where(i => i.State == GenerationState.Running))
        {
            image.State = ending == GenerationState.Completed ? GenerationState.Failed : ending;
            image.Error = ending == GenerationState.Completed ? "the pipeline returned no image for this encoder" : error;
        }
        var failed = generation.Images.Where(i => i.State == GenerationState.Failed).ToList();
        if (ending == GenerationState.Completed && failed.Count > 0)
        {
            ending = GenerationState.Failed;
            error = $"{failed.Count} of {generation.Images.Count} images failed: {failed[0].Encoder}: {failed[0].Error}";
        }
        generation.State = ending;
        generation.Error = error;
        generation.Activity = null;
        if (ending == GenerationState.Completed) generation.Progress = 1;
        generation.FinishedAt = DateTime.UtcNow;
        await done.SaveChangesAsync(CancellationToken.None);
        await broadcaster.PublishStoredAsync(dbFactory, generationId);
    }

    /// <summary>The worker's CLIP model, which scores every image; null without one, or when it is outside the allowed folders (the images stand without their scores).</summary>
    string? ClipModel() => options.JobClipModel is { } folder && new PathGuard(options).Problem(folder) is null ? folder : null;

    /// <summary>Stores a finished image; one spoiled by the Scalar hazard stays running to be drawn again while <paramref name="retry"/>.</summary>
    async Task ImageReadyAsync(GeneratedImage result, HashSet<int> spoiled, bool retry)
    {
        if (retry && result.PngPath is null && RunJob.IsScalarFault(result.Error))
        {
            spoiled.Add(result.ImageId);
            return;
        }
        await using var db = await dbFactory.CreateDbContextAsync();
        var image = await db.GenerationImages.SingleAsync(i => i.Id == result.ImageId);
        image.Seconds = result.Duration.TotalSeconds;
        if (result.PngPath is null)
        {
            image.State = GenerationState.Failed;
            image.Error = result.Error ?? "no image";
        }
        else
        {
            image.PngPath = result.PngPath;
            image.State = GenerationState.Completed;
            image.ClipScore = result.ClipScore;
            if (image.CheckpointId is not null || image.ModelId is not null)
            {
                var teacher = await db.GenerationImages.AsNoTracking().SingleOrDefaultAsync(i =>
                    i.GenerationId == image.GenerationId && i.CheckpointId == null && i.ModelId == null && i.PngPath != null);
                if (teacher?.PngPath is { } teacherPng)
                {
                    var (difference, similarity) = ImageDifference.Compare(teacherPng, result.PngPath);
                    (image.DifferenceToTeacher, image.SimilarityToTeacher) = (difference, double.IsFinite(similarity) ? similarity : null);
                }
            }
        }
        await db.SaveChangesAsync();
        await broadcaster.PublishStoredAsync(dbFactory, image.GenerationId);
    }

    /// <summary>Writes the latest progress to the generation's row and publishes it.</summary>
    Action<JobProgress> WriteProgress(int generationId) => value =>
    {
        using var db = dbFactory.CreateDbContext();
        db.Generations.Where(g => g.Id == generationId && g.Activity != JobProgress.Cancelling)
            .ExecuteUpdate(s => s.SetProperty(g => g.Activity, value.Activity).SetProperty(g => g.Progress, value.Fraction));
        broadcaster.PublishStoredAsync(dbFactory, generationId).GetAwaiter().GetResult();
    };
}
