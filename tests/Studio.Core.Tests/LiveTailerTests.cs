using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Live;

namespace Studio.Core.Tests;

/// <summary>
/// The tailer is the one bridge from other processes to this host's pages: what another process stores (a run it
/// created or trains, a generation it queued or renders, an evaluation) is published to this host's feeds.
/// Rows are written straight to the database here, as another process would write them.
/// </summary>
public class LiveTailerTests
{
    sealed class Recorder : IRunBroadcaster, IGenerationBroadcaster, IEvaluationBroadcaster
    {
        public List<RunBatch> Runs { get; } = [];
        public List<Generation> Generations { get; } = [];
        public List<CheckpointEvaluation> Evaluations { get; } = [];
        public Task PublishAsync(RunBatch batch, CancellationToken ct = default) { Runs.Add(batch); return Task.CompletedTask; }
        public Task PublishAsync(Generation generation, CancellationToken ct = default) { Generations.Add(generation); return Task.CompletedTask; }
        public Task PublishAsync(CheckpointEvaluation evaluation, CancellationToken ct = default) { Evaluations.Add(evaluation); return Task.CompletedTask; }
    }

    static LiveTailer Tailer(TestDatabase db, Recorder r, string? localWorker = null) =>
        new(db, r, r, r, local: localWorker is null ? null : new WorkerIdentity(localWorker));

    [Fact]
    public async Task ARunCreatedElsewhereIsAnnouncedAndItsPointsFollow()
    {
        var db = await TestDatabase.CreateAsync();
        var recorder = new Recorder();
        var tailer = Tailer(db, recorder);
        await tailer.TailAsync();
        Assert.Empty(recorder.Runs);

        var run = await db.AddRunAsync("elsewhere", RunState.Queued);
        await tailer.TailAsync();
        var announced = Assert.Single(recorder.Runs);
        Assert.Equal(run.Id, announced.RunId);
        Assert.Equal(RunState.Queued, announced.Status!.State);

        await using (var context = db.CreateDbContext())
        {
            var stored = await context.Runs.FindAsync(run.Id);
            stored!.State = RunState.Running;
            stored.Worker = "gpu-node-1";
            stored.Step = 2;
            context.MetricPoints.AddRange(new MetricPoint { RunId = run.Id, Step = 1, Loss = 0.5 }, new MetricPoint { RunId = run.Id, Step = 2, Loss = 0.4 });
            await context.SaveChangesAsync();
        }
        await tailer.TailAsync();
        Assert.Equal(2, recorder.Runs.Count);
        Assert.Equal(RunState.Running, recorder.Runs[1].Status!.State);
        Assert.Equal([1L, 2L], recorder.Runs[1].Metrics.Select(p => p.Step));

        await tailer.TailAsync();
        Assert.Equal(2, recorder.Runs.Count);   // nothing new, nothing published
    }

    [Fact]
    public async Task AGenerationRenderedElsewhereIsPublishedAtEachChangeAndNotWhenItRunsHere()
    {
        var db = await TestDatabase.CreateAsync();
        var recorder = new Recorder();
        var tailer = Tailer(db, recorder, localWorker: "web");
        Generation remote, local;
        await using (var context = db.CreateDbContext())
        {
            remote = new Generation { Prompt = "a red circle", Images = { new GenerationImage { Encoder = "teacher" } } };
            local = new Generation { Prompt = "a blue square", State = GenerationState.Running, Worker = "web" };
            context.Generations.AddRange(remote, local);
            await context.SaveChangesAsync();
        }
        await tailer.TailAsync();
        Assert.Equal([remote.Id], recorder.Generations.Select(g => g.Id));

        await tailer.TailAsync();
        Assert.Single(recorder.Generations);

        await using (var context = db.CreateDbContext())
        {
            var g = await context.Generations.FindAsync(remote.Id);
            g!.State = GenerationState.Running;
            g.Worker = "gpu-node-1";
            g.Progress = 0.5;
            await context.SaveChangesAsync();
        }
        await tailer.TailAsync();
        Assert.Equal(2, recorder.Generations.Count);
        Assert.Equal(0.5, recorder.Generations[1].Progress);
        Assert.Single(recorder.Generations[1].Images);

        await using (var context = db.CreateDbContext())
        {
            var g = await context.Generations.FindAsync(remote.Id);
            g!.State = GenerationState.Completed;
            g.Progress = 1;
            await context.SaveChangesAsync();
        }
        await tailer.TailAsync();
        await tailer.TailAsync();
        Assert.Equal(3, recorder.Generations.Count);   // the end once, then no longer tracked
        Assert.Equal(GenerationState.Completed, recorder.Generations[2].State);
        Assert.DoesNotContain(recorder.Generations, g => g.Id == local.Id);
    }

    [Fact]
    public async Task AnEvaluationRunElsewhereIsPublishedWhenItsProgressChanges()
    {
        var db = await TestDatabase.CreateAsync();
        var recorder = new Recorder();
        var tailer = Tailer(db, recorder);
        var evaluation = new CheckpointEvaluation { Pipeline = "toy", Encoder = "teacher" };
        await using (var context = db.CreateDbContext())
        {
            context.Evaluations.Add(evaluation);
            await context.SaveChangesAsync();
        }
        await tailer.TailAsync();
        await using (var context = db.CreateDbContext())
        {
            var v = await context.Evaluations.FindAsync(evaluation.Id);
            v!.State = EvaluationState.Running;
            v.Progress = 0.25;
            await context.SaveChangesAsync();
        }
        await tailer.TailAsync();
        await tailer.TailAsync();
        Assert.Equal([EvaluationState.Queued, EvaluationState.Running], recorder.Evaluations.Select(v => v.State));
        Assert.Equal(0.25, recorder.Evaluations[1].Progress);
    }

    /// <summary>
    /// A sweep of 300 runs waiting in the queue: a pass costs a few queries, not two per run (a thousand queued runs
    /// kept 22% of a core busy while nothing happened); a line logged to one of them and the points of one that starts
    /// are still published.
    /// </summary>
    [Fact]
    public async Task AQueueOfManyWaitingRunsCostsAFewQueriesAPassAndTheirChangesStillArrive()
    {
        var db = await TestDatabase.CreateAsync();
        var counting = new CountingDbFactory(db);
        List<Run> queued;
        await using (var context = db.CreateDbContext())
        {
            queued = Enumerable.Range(1, 300).Select(i => new Run { Name = $"sweep {i}", State = RunState.Queued }).ToList();
            context.Runs.AddRange(queued);
            await context.SaveChangesAsync();
        }
        var recorder = new Recorder();
        var tailer = new LiveTailer(counting, recorder, recorder, recorder);
        await tailer.TailAsync();
        counting.Commands = 0;
        await tailer.TailAsync();
        Assert.InRange(counting.Commands, 1, 10);
        Assert.Empty(recorder.Runs);

        await using (var context = db.CreateDbContext())
        {
            context.RunEvents.Add(new RunEvent { RunId = queued[10].Id, Kind = "Info", Message = "waiting for a GPU with 80 GB" });
            var starting = await context.Runs.FindAsync(queued[20].Id);
            starting!.State = RunState.Running;
            starting.Step = 1;
            context.MetricPoints.Add(new MetricPoint { RunId = starting.Id, Step = 1, Loss = 0.7 });
            await context.SaveChangesAsync();
        }
        await tailer.TailAsync();
        Assert.Equal(["waiting for a GPU with 80 GB"], Assert.Single(recorder.Runs, b => b.RunId == queued[10].Id).Events.Select(e => e.Message));
        var started = Assert.Single(recorder.Runs, b => b.RunId == queued[20].Id);
        Assert.Equal(RunState.Running, started.Status!.State);
        Assert.Equal([1L], started.Metrics.Select(p => p.Step));
    }
}
