using Hangfire;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.States;
using Studio.Core;
using Studio.Core.Evaluations;
using Studio.Core.Generations;
using Studio.Core.Hosting;

namespace Studio.Worker.Tests;

/// <summary>
/// Hangfire.PostgreSql takes a server's queues in the order of their names, not of the list (unlike the SQLite
/// storage); the evaluations' queue is named so that it still comes after `interactive` there.
/// </summary>
public class PostgresQueueOrderTests
{
    /// <summary>What the jobs record, in the order they ran.</summary>
    public static class Recorder
    {
        public static readonly System.Collections.Concurrent.ConcurrentQueue<string> Ran = new();
        public static void Record(string what) => Ran.Enqueue(what);
    }

    [Fact]
    public async Task AGenerationQueuedAfterEvaluationsRunsBeforeThemOnPostgres()
    {
        await using var database = await TestServices.CreateDatabaseAsync();
        var options = new PostgreSqlStorageOptions { QueuePollInterval = TimeSpan.FromMilliseconds(100), PrepareSchemaIfNecessary = true };
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(database.ConnectionString, options), options);
        var client = new BackgroundJobClient(storage);
        var tag = Guid.NewGuid().ToString("N");
        foreach (var i in new[] { 1, 2, 3 })
            client.Create(Job.FromExpression(() => Recorder.Record($"{tag} evaluation {i}")), new EnqueuedState(EvaluationService.Queue));
        client.Create(Job.FromExpression(() => Recorder.Record($"{tag} generation")), new EnqueuedState(GenerationService.Queue));

        // The interactive server of a web host that serves everything, with its one slot.
        var served = StudioServices.WorkerServers(new StudioOptions(), new WorkerIdentity("web:host:1"))[1];
        using (new BackgroundJobServer(new BackgroundJobServerOptions { Queues = served.Queues, WorkerCount = 1 }, storage))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Recorder.Ran.Count(r => r.StartsWith(tag)) < 4 && DateTime.UtcNow < deadline) await Task.Delay(100);
        }
        Assert.Equal(["generation", "evaluation 1", "evaluation 2", "evaluation 3"],
            Recorder.Ran.Where(r => r.StartsWith(tag)).Select(r => r[(tag.Length + 1)..]));
    }
}
