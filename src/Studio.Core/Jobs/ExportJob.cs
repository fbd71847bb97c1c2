using Hangfire;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Core.ModelRegistry;
using Studio.Core.Artifacts;

namespace Studio.Core.Jobs;

/// <summary>Exports one checkpoint through the <see cref="ICheckpointExporter"/> and logs the outcome in its run's log.</summary>
public class ExportJob(IDbContextFactory<StudioDbContext> dbFactory, ICheckpointExporter exporter, IRunBroadcaster broadcaster, StudioOptions options)
{
    [AutomaticRetry(Attempts = 0)]
    public async Task Execute(int checkpointId, string format, CancellationToken ct)
    {
        CheckpointEntry checkpoint;
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
            checkpoint = await db.Checkpoints.AsNoTracking().SingleOrDefaultAsync(c => c.Id == checkpointId, ct)
                         ?? throw new InvalidOperationException($"checkpoint {checkpointId} no longer exists");
        var output = ArtifactFolders.Export(options, checkpointId, format);
        string message;
        var failed = false;
        try
        {
            // An export queued twice (two clicks before the first ran) finds the first one's folder: nothing to redo.
            if (Done(options, checkpointId, format) is null)
            {
                await exporter.ExportAsync(checkpoint.Path, format, output, ct);
                message = $"Exported the step {checkpoint.Step} checkpoint as {format} to {output}.";
            }
            else message = $"The step {checkpoint.Step} checkpoint is already exported as {format} to {output}.";
            await RegisterAsync(checkpoint, format, output);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            message = $"Export of the step {checkpoint.Step} checkpoint as {format} failed: {e.Message}";
            failed = true;
        }
        await using var log = await dbFactory.CreateDbContextAsync(CancellationToken.None);
        var row = new RunEvent
        {
            RunId = checkpoint.RunId, Kind = failed ? "Error" : "Info", Stage = checkpoint.Stage,
            Step = checkpoint.Step, Message = message, Time = DateTime.UtcNow,
        };
        log.RunEvents.Add(row);
        await log.SaveChangesAsync(CancellationToken.None);
        await broadcaster.PublishAsync(new RunBatch(checkpoint.RunId, [], [], [row], null), CancellationToken.None);
    }

    /// <summary>
    /// The folder of a finished export of this checkpoint in this format, or null: exports are moved into place whole
    /// (written beside it first), so a folder there with anything in it is a finished one.
    /// </summary>
    public static string? Done(StudioOptions options, int checkpointId, string format)
    {
        var output = ArtifactFolders.Export(options, checkpointId, format);
        return Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any() ? output : null;
    }

    /// <summary>The export becomes a registered student model, so the Generate page offers it beside the checkpoints.</summary>
    async Task RegisterAsync(CheckpointEntry checkpoint, string format, string output)
    {
        await using var db = await dbFactory.CreateDbContextAsync(CancellationToken.None);
        if (await db.Models.AnyAsync(m => m.Folder == output)) return;
        var entry = new ModelEntry { Name = $"run {checkpoint.RunId} · step {checkpoint.Step} ({format} export)", Kind = ModelKind.ExportedStudent, Folder = output };
        ModelService.Apply(entry, ModelInspector.Inspect(output, ModelKind.ExportedStudent));
        db.Models.Add(entry);
        await db.SaveChangesAsync();
    }
}
