using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

/// <summary>Studio:Webhook hears how runs end, and a webhook that fails never fails the run.</summary>
public class RunWebhookTests
{
    sealed class ScriptedExecutor(Func<ITrainingReporter, Task> script) : IRunExecutor
    {
        public Task ExecuteAsync(RunExecution run, ITrainingReporter reporter, CancellationToken ct) => script(reporter);
    }

    static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    static async Task<(TestDatabase Db, StudioOptions Options, RunJob Job, int RunId)> RunAsync(string webhook, IRunExecutor executor)
    {
        var db = await TestDatabase.CreateAsync();
        var options = new StudioOptions { DataDirectory = db.Directory, Webhook = webhook, PublicUrl = "http://studio.example/" };
        var storage = new SQLiteStorage(Path.Combine(db.Directory, "hangfire.db"));
        var runs = new RunService(db, new BackgroundJobClient(storage), new RunFeed(), options);
        var run = (await runs.CreateSweepAsync("lr", ToyRun.Yaml(), [new SweepAxis("optimizer.lr", ["3e-4"])]))[0];
        var job = new RunJob(db, executor, new RunFeed(), storage, options, new WorkerIdentity("test:host:1"));
        return (db, options, job, run.Id);
    }

    [Fact]
    public async Task ACompletedAndAFailedRunArePostedWithALineAndTheirNumbers()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        listener.Start();
        var bodies = new List<JsonDocument>();
        var serving = Task.Run(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                var context = await listener.GetContextAsync();
                Assert.Equal("POST", context.Request.HttpMethod);
                bodies.Add(await JsonDocument.ParseAsync(context.Request.InputStream));
                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });

        var (_, _, completed, completedId) = await RunAsync($"http://127.0.0.1:{port}/hook/", new ScriptedExecutor(reporter =>
        {
            reporter.Update(new UpdateMetrics { Stage = 0, Step = 8, TotalSteps = 8, Loss = 0.125, LearningRate = 1e-3, GradientNorm = 1 });
            return Task.CompletedTask;
        }));
        await completed.Execute(completedId, CancellationToken.None);
        var (_, _, failed, failedId) = await RunAsync($"http://127.0.0.1:{port}/hook/", new ScriptedExecutor(_ => throw new InvalidDataException("shard 3 is corrupt\nat ...")));
        await failed.Execute(failedId, CancellationToken.None);
        await serving.WaitAsync(TimeSpan.FromSeconds(30));

        var first = bodies[0].RootElement;
        Assert.Equal($"Run {completedId} “lr · lr=3e-4” completed: step 8 / 8, loss 0.125 (group lr) http://studio.example/runs/{completedId}",
            first.GetProperty("text").GetString());
        Assert.Equal(first.GetProperty("text").GetString(), first.GetProperty("content").GetString());
        Assert.Equal("Completed", first.GetProperty("run").GetProperty("state").GetString());
        Assert.Equal(0.125, first.GetProperty("run").GetProperty("lastLoss").GetDouble());
        var second = bodies[1].RootElement;
        Assert.StartsWith($"Run {failedId} “lr · lr=3e-4” failed: ", second.GetProperty("text").GetString());
        Assert.Contains("shard 3 is corrupt", second.GetProperty("text").GetString());
        Assert.DoesNotContain("at ...", second.GetProperty("text").GetString()); // one line
        Assert.Equal("Failed", second.GetProperty("run").GetProperty("state").GetString());
    }

    [Fact]
    public async Task ARunTheReconcilerFailsBecauseItsWorkerIsGoneIsAnnouncedToo()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        listener.Start();
        var heard = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            var body = await JsonDocument.ParseAsync(context.Request.InputStream);
            context.Response.Close();
            return body;
        });

        var db = await TestDatabase.CreateAsync();
        var storage = new SQLiteStorage(Path.Combine(db.Directory, "hangfire.db"));
        var options = new StudioOptions { DataDirectory = db.Directory, Webhook = $"http://127.0.0.1:{port}/hook/" };
        int runId;
        await using (var context = db.CreateDbContext())
        {
            var run = new Run { Name = "lost", State = RunState.Running, Worker = "worker:gone:1", Queue = "train" };
            context.Runs.Add(run);
            await context.SaveChangesAsync();
            runId = run.Id;
            var jobs = new BackgroundJobClient(storage);
            run.HangfireJobId = jobs.Create(Hangfire.Common.Job.FromExpression<RunJob>(j => j.Execute(runId, CancellationToken.None)), new Hangfire.States.EnqueuedState("train"));
            jobs.ChangeState(run.HangfireJobId, new Hangfire.States.FailedState(new Exception("boom")));
            await context.SaveChangesAsync();
        }
        Assert.Equal(1, await new Studio.Core.Queue.RunReconciler(storage, db, new RunFeed(), options).ReconcileAsync());

        var text = (await heard.WaitAsync(TimeSpan.FromSeconds(30))).RootElement.GetProperty("text").GetString();
        Assert.StartsWith($"Run {runId} “lost” failed: Worker worker:gone:1 is gone", text);
    }

    [Fact]
    public async Task AWebhookThatCannotBeReachedIsLoggedAndTheRunStillCompletes()
    {
        var (db, _, job, runId) = await RunAsync($"http://127.0.0.1:{FreePort()}/nobody-listens", new ScriptedExecutor(_ => Task.CompletedTask));
        await job.Execute(runId, CancellationToken.None);
        await using var context = db.CreateDbContext();
        Assert.Equal(RunState.Completed, (await context.Runs.SingleAsync(r => r.Id == runId)).State);
        var warning = await context.RunEvents.Where(e => e.RunId == runId && e.Kind == "Warning").Select(e => e.Message).SingleAsync();
        Assert.StartsWith("Not announced: the webhook could not be reached", warning);

        var (db2, _, job2, runId2) = await RunAsync("ftp://files.example/x", new ScriptedExecutor(_ => Task.CompletedTask));
        await job2.Execute(runId2, CancellationToken.None);
        await using var context2 = db2.CreateDbContext();
        Assert.Equal("Not announced: Studio:Webhook 'ftp://files.example/x' is not an http or https address (Studio:Webhook).",
            await context2.RunEvents.Where(e => e.RunId == runId2 && e.Kind == "Warning").Select(e => e.Message).SingleAsync());
    }

    [Fact]
    public void ARunStoppedBeforeItsLastUpdateIsAnnouncedAsStoppedEarly()
    {
        var webhook = new RunWebhook(new StudioOptions { Webhook = "http://hooks.example/x" });
        var run = new Run { Id = 7, Name = "lr · lr=0.3", ConfigYaml = "", State = RunState.Completed, Step = 60, TotalSteps = 300, LastLoss = 0.5 };
        Assert.True(run.StoppedEarly);
        Assert.Equal("Run 7 “lr · lr=0.3” completed (stopped early): step 60 / 300, loss 0.5", webhook.Text(run));
        run.Step = 300;
        Assert.False(run.StoppedEarly);
        Assert.Equal("Run 7 “lr · lr=0.3” completed: step 300 / 300, loss 0.5", webhook.Text(run));
    }
}
