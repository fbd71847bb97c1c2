using Hangfire;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;

namespace Studio.Core.Jobs;

/// <summary>The Hangfire job of a Generate request (on the `interactive` queue): renders each encoder's image and records it as it finishes.</summary>
public class GenerationJob(IDbContextFactory<StudioDbContext> dbFactory, IGenerationExecutor executor, StudioOptions options, WorkerIdentity worker)
{
    [AutomaticRetry(Attempts = 0)]
    public async Task Execute(int generationId, CancellationToken ct)
    {
        GenerationExecution execution;
        await using (var db = await dbFactory.CreateDbContextAsync(CancellationToken.None))
        {
            var g = await db.Generations.Include(x => x.Images).SingleOrDefaultAsync(x => x.Id == generationId, CancellationToken.None);
            if (g is null || g.State != GenerationState.Queued) return;
            var checkpointIds = g.Images.Where(i => i.CheckpointId is not null).Select(i => i.CheckpointId!.Value).ToList();
            var paths = await db.Checkpoints.Where(c => checkpointIds.Contains(c.Id)).ToDictionaryAsync(c => c.Id, c => c.Path, CancellationToken.None);
            var teacher = g.TeacherModelId is { } t ? (await db.Models.SingleOrDefaultAsync(m => m.Id == t, CancellationToken.None))?.Folder : null;
            var folder = ArtifactFolders.Generation(options, generationId);
            Directory.CreateDirectory(folder);
            g.State = GenerationState.Running;
            g.Worker = worker.Name;
            foreach (var image in g.Images) image.State = GenerationState.Running;
            await db.SaveChangesAsync(CancellationToken.None);
            execution = new GenerationExecution(g.Id, g.Prompt, g.Seed, g.Steps, g.Guidance, g.Width, g.Height, teacher,
                g.Images.Select(i => new GenerationEncoder(i.Id, i.Encoder, i.CheckpointId is { } c ? paths.GetValueOrDefault(c) : null)).ToList(),
                folder);
        }

        GenerationState ending;
        string? error = null;
        try
        {
            await executor.ExecuteAsync(execution, ImageReadyAsync, ct);
            ending = GenerationState.Completed;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { ending = GenerationState.Cancelled; }
        catch (Exception e)
        {
            ending = GenerationState.Failed;
            error = e is NotSupportedException ? e.Message : $"{e.GetType().Name}: {e.Message}";
        }

        await using var done = await dbFactory.CreateDbContextAsync(CancellationToken.None);
        var generation = await done.Generations.Include(x => x.Images).SingleAsync(x => x.Id == generationId, CancellationToken.None);
        generation.State = ending;
        generation.Error = error;
        generation.FinishedAt = DateTime.UtcNow;
        foreach (var image in generation.Images.Where(i => i.State == GenerationState.Running))
        {
            image.State = ending == GenerationState.Completed ? GenerationState.Failed : ending;
            image.Error = ending == GenerationState.Completed ? "the pipeline returned no image for this encoder" : error;
        }
        await done.SaveChangesAsync(CancellationToken.None);
    }

    async Task ImageReadyAsync(GeneratedImage result)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var image = await db.GenerationImages.SingleAsync(i => i.Id == result.ImageId);
        image.PngPath = result.PngPath;
        image.Seconds = result.Duration.TotalSeconds;
        image.State = GenerationState.Completed;
        await db.SaveChangesAsync();
    }
}
