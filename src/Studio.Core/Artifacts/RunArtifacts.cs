using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Ml.Distillation;
using Studio.Core.Live;

namespace Studio.Core.Artifacts;

/// <summary>
/// Records the checkpoint or sample a log line announces (CheckpointWritten, SampleReady) as its entry, once. A
/// Resumed line records the checkpoint it resumed from too: a worker killed right after writing it may never have
/// delivered its CheckpointWritten line. A CheckpointRemoved line (`checkpoints.keep` deleted an older one) removes
/// its entry, so no page offers a checkpoint that is gone.
/// </summary>
static class RunArtifacts
{
    /// <summary>A path a trainer reported (absolute, or relative to the run's artifact folder) as the studio stores it.</summary>
    public static string FullPath(string? artifactFolder, string reported) =>
        artifactFolder is null ? reported : Path.GetFullPath(Path.Combine(artifactFolder, reported));

    public static async Task RecordAsync(StudioDbContext db, RunEvent e, string? artifactFolder, CancellationToken ct)
    {
        if (e.DataJson is null) return;
        var data = JsonSerializer.Deserialize<Dictionary<string, string>>(e.DataJson);
        if (data is null || !data.TryGetValue(TrainingEventData.Path, out var rawPath)) return;
        var path = FullPath(artifactFolder, rawPath);
        var runId = e.RunId;
        if (e.Kind is nameof(TrainingEventKind.CheckpointWritten) or nameof(TrainingEventKind.Resumed))
        {
            var size = data.TryGetValue(TrainingEventData.Bytes, out var b) && long.TryParse(b, CultureInfo.InvariantCulture, out var n) ? n : RunReporter.SizeOnDisk(path);
            var existing = db.Checkpoints.Local.FirstOrDefault(c => c.RunId == runId && c.Path == path)
                ?? await db.Checkpoints.SingleOrDefaultAsync(c => c.RunId == runId && c.Path == path, ct);
            if (existing is null) db.Checkpoints.Add(new CheckpointEntry { RunId = runId, Path = path, Stage = e.Stage, Step = e.Step, SizeBytes = size, CreatedAt = e.Time });
            else if (e.Kind == nameof(TrainingEventKind.CheckpointWritten)) { existing.Stage = e.Stage; existing.Step = e.Step; existing.SizeBytes = size; existing.CreatedAt = e.Time; }
        }
        else if (e.Kind == nameof(TrainingEventKind.CheckpointRemoved))
        {
            var gone = db.Checkpoints.Local.FirstOrDefault(c => c.RunId == runId && c.Path == path)
                ?? await db.Checkpoints.SingleOrDefaultAsync(c => c.RunId == runId && c.Path == path, ct);
            if (gone is not null && db.Entry(gone).State != EntityState.Deleted) db.Checkpoints.Remove(gone);
        }
        else if (e.Kind == nameof(TrainingEventKind.SampleReady))
        {
            int.TryParse(data.GetValueOrDefault(TrainingEventData.PromptIndex), CultureInfo.InvariantCulture, out var promptIndex);
            long.TryParse(data.GetValueOrDefault(TrainingEventData.Seed), CultureInfo.InvariantCulture, out var seed);
            var teacher = data.GetValueOrDefault(TrainingEventData.Teacher) is "true" or "True" or "1";
            var existing = db.Samples.Local.FirstOrDefault(s => s.RunId == runId && s.Step == e.Step && s.PromptIndex == promptIndex && s.Seed == seed && s.IsTeacher == teacher)
                ?? await db.Samples.SingleOrDefaultAsync(s => s.RunId == runId && s.Step == e.Step
                    && s.PromptIndex == promptIndex && s.Seed == seed && s.IsTeacher == teacher, ct);
            if (existing is null)
                db.Samples.Add(new SampleEntry
                {
                    RunId = runId, Step = e.Step, PromptIndex = promptIndex, Seed = seed, IsTeacher = teacher,
                    Prompt = data.GetValueOrDefault(TrainingEventData.Prompt) ?? "", PngPath = path, CreatedAt = e.Time,
                });
            else existing.PngPath = path;
        }
    }
}
