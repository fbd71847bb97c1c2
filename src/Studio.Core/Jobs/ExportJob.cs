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
    /// <summary>An export queued before jobs named their run (kept so such a job still runs).</summary>
    [AutomaticRetry(Attempts = 0)]
    public Task Execute(int checkpointId, string format, CancellationToken ct) => Execute(null, checkpointId, format, ct);

    /// <param name="runId">The checkpoint's run, whose log gets the outcome even when the checkpoint was deleted meanwhile.</param>
    [AutomaticRetry(Attempts = 0)]
    public async Task Execute(int? runId, int checkpointId, string format, CancellationToken ct)
    {
        CheckpointEntry? found;
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
            found = await db.Checkpoints.AsNoTracking().SingleOrDefaultAsync(c => c.Id == checkpointId, ct);
        if (found is not { } checkpoint)
        {
            if (runId is not { } run) throw new InvalidOperationException($"checkpoint {checkpointId} no longer exists");
            await LogAsync(new RunEvent
            {
                RunId = run, Kind = "Error", Message = $"Export of checkpoint {checkpointId} as {format} failed: the checkpoint was deleted before the export ran.",
                Time = DateTime.UtcNow,
            });
            return;
        }
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
        await LogAsync(new RunEvent
        {
            RunId = checkpoint.RunId, Kind = failed ? "Error" : "Info", Stage = checkpoint.Stage,
            Step = checkpoint.Step, Message = message, Time = DateTime.UtcNow,
        });
    }

    /// <summary>A line in the run's log, pushed to its pages (nothing when the run itself was deleted meanwhile).</summary>
    async Task LogAsync(RunEvent row)
    {
        await using var log = await dbFactory.CreateDbContextAsync(CancellationToken.None);
        if (!await log.Runs.AnyAsync(r => r.Id == row.RunId, CancellationToken.None)) return;
        log.RunEvents.Add(row);
        await log.SaveChangesAsync(CancellationToken.None);
        await broadcaster.PublishAsync(new RunBatch(row.RunId, [], [], [row], null), CancellationToken.None);
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
