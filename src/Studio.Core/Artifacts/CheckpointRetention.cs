using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Ml.Distillation;

namespace Studio.Core.Artifacts;

/// <summary>
/// checkpoints.keep for the checkpoints the trainer held past it while an evaluation of them waited
/// (<see cref="TrainingEventKind.CheckpointHeld"/>): while the run trains, its next prune deletes them; once it has
/// stopped, the evaluation (or its cancellation) that releases the last hold calls <see cref="PruneAsync"/>, which deletes
/// what keep would have deleted of them, and nothing else (a checkpoint never held stays, whatever keep says now). The
/// run's end calls it too, for an evaluation that ended after the trainer's last prune but before the run stopped.
/// Each deletion is a CheckpointRemoved line in the run's log, as the trainer writes it.
/// </summary>
public static class CheckpointRetention
{
    /// <summary>The run's checkpoints (their paths) that an evaluation queued or running holds.</summary>
    public static IQueryable<string> Held(StudioDbContext db, int runId) =>
        db.Evaluations.Where(v => v.State == EvaluationState.Queued || v.State == EvaluationState.Running)
            .Join(db.Checkpoints.Where(c => c.RunId == runId), v => v.CheckpointId, c => (int?)c.Id, (_, c) => c.Path);

    /// <summary><see cref="PruneAsync"/> when an evaluation lets go of its checkpoint; one that cannot be deleted stays, said in the run's log.</summary>
    public static async Task ReleaseAsync(IDbContextFactory<StudioDbContext> dbFactory, int runId, IRunBroadcaster? runs)
    {
        try { await PruneAsync(dbFactory, runId, runs); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await using var db = await dbFactory.CreateDbContextAsync();
            db.RunEvents.Add(new RunEvent
            {
                RunId = runId, Kind = nameof(TrainingEventKind.Warning), Time = DateTime.UtcNow,
                Message = $"checkpoints.keep: a checkpoint held for its evaluation could not be deleted ({e.Message}); it stays",
            });
            await db.SaveChangesAsync();
        }
    }

    public static async Task<IReadOnlyList<string>> PruneAsync(IDbContextFactory<StudioDbContext> dbFactory, int runId,
        IRunBroadcaster? broadcaster = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var run = await db.Runs.SingleOrDefaultAsync(r => r.Id == runId, ct);
        if (run is null || run.IsActive) return [];
        CheckpointConfig keep;
        try { keep = RunConfig.FromYaml(run.ConfigYaml).Checkpoints; }
        catch (Exception e) when (e is not OutOfMemoryException) { return []; } // a YAML this version cannot read: nothing to go by
        var heldKind = nameof(TrainingEventKind.CheckpointHeld);
        var heldData = await db.RunEvents.Where(e => e.RunId == runId && e.Kind == heldKind && e.DataJson != null).Select(e => e.DataJson!).ToListAsync(ct);
        var wasHeld = heldData
            .Select(json => JsonSerializer.Deserialize<Dictionary<string, string>>(json)?.GetValueOrDefault(TrainingEventData.Path))
            .OfType<string>()
            .Select(path => RunArtifacts.FullPath(run.ArtifactFolder, path))
            .ToHashSet();
        if (wasHeld.Count == 0) return [];
        var stillHeld = (await Held(db, runId).ToListAsync(ct)).ToHashSet();

        var removed = new List<string>();
        foreach (var root in wasHeld.Select(p => Path.GetDirectoryName(p)!).Distinct())
        {
            var best = keep.KeepBest ? TrainingCheckpoint.Best(root) : null;
            removed.AddRange(TrainingCheckpoint.Prune(root, keep.Keep, best, held: dir => !wasHeld.Contains(dir) || stillHeld.Contains(dir)));
        }
        if (removed.Count == 0) return removed;
        var events = removed.Select(path => new RunEvent
        {
            RunId = runId, Kind = nameof(TrainingEventKind.CheckpointRemoved), Stage = run.Stage, Step = run.Step, Time = DateTime.UtcNow,
            Message = $"checkpoint {Path.GetFileName(path)} removed (checkpoints.keep: {keep.Keep}), its evaluation done",
            DataJson = JsonSerializer.Serialize(new Dictionary<string, string> { [TrainingEventData.Path] = path }),
        }).ToList();
        db.RunEvents.AddRange(events);
        foreach (var e in events) await RunArtifacts.RecordAsync(db, e, run.ArtifactFolder, ct);
        await db.SaveChangesAsync(ct);
        if (broadcaster is not null) await broadcaster.PublishAsync(new RunBatch(runId, [], [], events, null), ct);
        return removed;
    }
}
