using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Studio.Core.Data;
using Studio.Core.Generations;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

/// <summary>
/// Hangfire keeps process-wide state (its log provider, bound to the host's logger factory; JobStorage.Current): the
/// test that starts a real host runs alone, and hands Hangfire back its default log provider when the host is gone.
/// </summary>
[CollectionDefinition(nameof(HangfireHostCollection), DisableParallelization = true)]
public class HangfireHostCollection;

/// <summary>Generations and evaluations have job slots of their own, so they never wait for a run to finish.</summary>
[Collection(nameof(HangfireHostCollection))]
public class InteractiveQueueTests
{
    [Fact]
    public void TheInteractiveQueueGetsItsOwnServerWhenThisProcessServesIt()
    {
        var identity = new WorkerIdentity("web:host:1");
        var servers = StudioServices.WorkerServers(new StudioOptions(), identity);
        Assert.Equal(2, servers.Count);
        Assert.Equal(("web:host:1", 1), (servers[0].Name, servers[0].WorkerCount));
        // Evaluations right after generations, wherever generations are served.
        Assert.Equal(["interactive", "interactive_evaluations", "default", "cpu"], servers[0].Queues);
        Assert.Equal(("web:host:1:interactive", 1), (servers[1].Name, servers[1].WorkerCount));
        Assert.Equal(["interactive", "interactive_evaluations"], servers[1].Queues);

        // A training-only GPU worker has none; InteractiveWorkerCount 0 turns it off.
        var gpu = Assert.Single(StudioServices.WorkerServers(new StudioOptions { Queues = "gpu-80g,cpu" }, identity));
        Assert.Equal(["gpu-80g", "cpu"], gpu.Queues);
        Assert.Single(StudioServices.WorkerServers(new StudioOptions { InteractiveWorkerCount = 0 }, identity));
        // A list that names the evaluations' queue keeps its place.
        Assert.Equal(["default", "interactive_evaluations", "interactive"], StudioServices.ServedQueues(["default", "interactive_evaluations", "interactive"]));
    }

    /// <summary>What the jobs of <see cref="AGenerationQueuedAfterEvaluationsRunsBeforeThem"/> record, in the order they ran.</summary>
    public static class Recorder
    {
        public static readonly System.Collections.Concurrent.ConcurrentQueue<string> Ran = new();
        public static void Record(string what) => Ran.Enqueue(what);
    }

    [Fact]
    public async Task AGenerationQueuedAfterEvaluationsRunsBeforeThem()
    {
        // The interactive server's one slot, on the studio's SQLite storage: three evaluations wait, then a generation comes.
        var data = Directory.CreateTempSubdirectory("studio-queue-order-").FullName;
        var storage = new Hangfire.Storage.SQLite.SQLiteStorage(Path.Combine(data, "hangfire.db"),
            new Hangfire.Storage.SQLite.SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromMilliseconds(100) });
        var client = new Hangfire.BackgroundJobClient(storage);
        var tag = Guid.NewGuid().ToString("N");
        foreach (var i in new[] { 1, 2, 3 })
            client.Create(Hangfire.Common.Job.FromExpression(() => Recorder.Record($"{tag} evaluation {i}")), new Hangfire.States.EnqueuedState(Evaluations.EvaluationService.Queue));
        client.Create(Hangfire.Common.Job.FromExpression(() => Recorder.Record($"{tag} generation")), new Hangfire.States.EnqueuedState(GenerationService.Queue));
        var served = StudioServices.WorkerServers(new StudioOptions(), new WorkerIdentity("web:host:1"))[1];
        using (var server = new Hangfire.BackgroundJobServer(new Hangfire.BackgroundJobServerOptions { Queues = served.Queues, WorkerCount = 1 }, storage))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Recorder.Ran.Count(r => r.StartsWith(tag)) < 4 && DateTime.UtcNow < deadline) await Task.Delay(100);
        }
        Assert.Equal(["generation", "evaluation 1", "evaluation 2", "evaluation 3"],
            Recorder.Ran.Where(r => r.StartsWith(tag)).Select(r => r[(tag.Length + 1)..]));
        Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
    }

    /// <summary>A run that holds its job slot until released.</summary>
    sealed class BlockingRun : IRunExecutor
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task ExecuteAsync(RunExecution run, ITrainingReporter reporter, CancellationToken ct)
        {
            Started.TrySetResult();
            await Release.Task.WaitAsync(ct);
        }
    }

    sealed class InstantImages : IGenerationExecutor
    {
        public async Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct)
        {
            foreach (var encoder in generation.Encoders)
                await imageReady(new GeneratedImage(encoder.ImageId, Path.Combine(generation.OutputFolder, $"image-{encoder.ImageId}.png"), TimeSpan.Zero));
        }
    }

    [Fact]
    public async Task AGenerationCompletesWhileARunHoldsTheOnlyGeneralSlot()
    {
        var data = Directory.CreateTempSubdirectory("studio-interactive-").FullName;
        var options = new StudioOptions { DataDirectory = data, WorkerCount = 1, HeartbeatSeconds = 1 };
        var run = new BlockingRun();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton<IRunExecutor>(run);
        builder.Services.AddSingleton<IGenerationExecutor>(new InstantImages());
        builder.Services.AddStudioCore(options);
        builder.Services.AddStudioWorker(options, "test");
        var host = builder.Build();
        try
        {
            await host.Services.MigrateStudioDatabaseAsync();
            await host.StartAsync();
            var runs = host.Services.GetRequiredService<RunService>();
            var queued = await runs.CreateAsync("holds the slot", Studio.Ml.Distillation.RunPresets.Find("toy").Create().ToYaml(), "default");
            await run.Started.Task.WaitAsync(TimeSpan.FromSeconds(60));

            var generation = await host.Services.GetRequiredService<GenerationService>().RequestAsync(new GenerationRequest("a red circle", Steps: 2, Width: 64, Height: 64));
            var db = host.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>();
            var finished = await WaitAsync(db, ctx => ctx.Generations.SingleAsync(g => g.Id == generation.Id), g => g.State is GenerationState.Completed or GenerationState.Failed);
            Assert.Equal(GenerationState.Completed, finished.State);
            await using (var ctx = await db.CreateDbContextAsync())
                Assert.Equal(RunState.Running, (await ctx.Runs.SingleAsync(r => r.Id == queued.Id)).State);

            run.Release.SetResult();
            var done = await WaitAsync(db, ctx => ctx.Runs.SingleAsync(r => r.Id == queued.Id), r => !r.IsActive);
            Assert.Equal(RunState.Completed, done.State);
        }
        finally
        {
            run.Release.TrySetResult();
            await host.StopAsync();
            host.Dispose();
            // The disposed host's logger factory must not stay Hangfire's log provider for the other tests' storages.
            Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
        }
        // What the other tests do next: a storage of their own, which logs through Hangfire's provider.
        _ = new Hangfire.Storage.SQLite.SQLiteStorage(Path.Combine(data, "after-the-host.db"));
    }

    static async Task<T> WaitAsync<T>(IDbContextFactory<StudioDbContext> db, Func<StudioDbContext, Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            await using (var ctx = await db.CreateDbContextAsync())
            {
                var value = await read(ctx);
                if (done(value) || DateTime.UtcNow > deadline) return value;
            }
            await Task.Delay(100);
        }
    }
}
