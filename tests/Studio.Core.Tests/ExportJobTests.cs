using Microsoft.EntityFrameworkCore;
using Studio.Core.Artifacts;
using Studio.Core.Data;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;

namespace Studio.Core.Tests;

/// <summary>Exporting a checkpoint twice: refused before queueing once the first is there; a second queued job finds it done.</summary>
public class ExportJobTests
{
    /// <summary>Writes a file into the output folder, as an exporter that finished would (and counts its calls).</summary>
    sealed class CountingExporter : ICheckpointExporter
    {
        public int Calls { get; private set; }

        public Task ExportAsync(string checkpointPath, string format, string outputFolder, CancellationToken ct)
        {
            Calls++;
            Directory.CreateDirectory(outputFolder);
            File.WriteAllText(Path.Combine(outputFolder, "config.json"), "{}");
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task ASecondExportOfTheSameCheckpointIsRefusedAndATwiceQueuedOneDoesNotRedoIt()
    {
        var db = await TestDatabase.CreateAsync();
        var options = new StudioOptions { DataDirectory = db.Directory };
        var jobs = new RecordingJobs();
        var runs = new RunService(db, jobs, new RunFeed(), options);
        var run = await db.AddRunAsync("exported", RunState.Completed);
        CheckpointEntry checkpoint;
        await using (var context = db.CreateDbContext())
        {
            checkpoint = new CheckpointEntry { RunId = run.Id, Step = 40, Path = Directory.CreateDirectory(Path.Combine(db.Directory, "step-40")).FullName };
            context.Checkpoints.Add(checkpoint);
            await context.SaveChangesAsync();
        }

        // Two clicks before the first job ran: both queued; the first exports, the second finds it done.
        await runs.ExportCheckpointAsync(checkpoint.Id, "t5");
        await runs.ExportCheckpointAsync(checkpoint.Id, "t5");
        Assert.Equal(2, jobs.Created.Count);
        var exporter = new CountingExporter();
        var job = new ExportJob(db, exporter, new RunFeed(), options);
        await job.Execute(checkpoint.Id, "t5", CancellationToken.None);
        await job.Execute(checkpoint.Id, "t5", CancellationToken.None);
        Assert.Equal(1, exporter.Calls);
        var output = ArtifactFolders.Export(options, checkpoint.Id, "t5");
        await using (var context = db.CreateDbContext())
        {
            var log = await context.RunEvents.Where(e => e.RunId == run.Id && e.Message.Contains("checkpoint")).OrderBy(e => e.Id).Select(e => e.Kind + ": " + e.Message).ToListAsync();
            Assert.Equal($"Info: Exported the step 40 checkpoint as t5 to {output}.", log[^2]);
            Assert.Equal($"Info: The step 40 checkpoint is already exported as t5 to {output}.", log[^1]);
            Assert.Equal(1, await context.Models.CountAsync(m => m.Folder == output));
        }

        // Once it is there, a third request is refused, naming the folder, and nothing is queued; another format is not.
        var refused = await Assert.ThrowsAsync<RunActionException>(() => runs.ExportCheckpointAsync(checkpoint.Id, "t5"));
        Assert.Equal($"checkpoint {checkpoint.Id} (run {run.Id}, step 40) is already exported as t5: {output}", refused.Message);
        Assert.Equal(2, jobs.Created.Count);
        await runs.ExportCheckpointAsync(checkpoint.Id, "distillt5");
        Assert.Equal(3, jobs.Created.Count);
        // The job names the run: deleted meanwhile, the checkpoint's export still ends with a line in the run's log.
        Assert.Equal([run.Id, checkpoint.Id], jobs.Created[^1].Job.Args.Take(2).Select(a => (int)a!));
        await runs.DeleteCheckpointAsync(checkpoint.Id);
        await job.Execute(run.Id, checkpoint.Id, "distillt5", CancellationToken.None);
        Assert.Equal(1, exporter.Calls);
        await using (var context = db.CreateDbContext())
        {
            var last = await context.RunEvents.Where(e => e.RunId == run.Id).OrderBy(e => e.Id).LastAsync();
            Assert.Equal(("Error", $"Export of checkpoint {checkpoint.Id} as distillt5 failed: the checkpoint was deleted before the export ran."), (last.Kind, last.Message));
        }
    }
}
