using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Studio.Core.Data;
using Studio.Core.Generations;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Core.Artifacts;
using Studio.Core.Evaluations;

namespace Studio.Core.Hosting;

/// <summary>The storage and queue wiring shared by the web host, the worker host and the command line.</summary>
public static class StudioServices
{
    public static StudioOptions ReadStudioOptions(this IConfiguration configuration)
    {
        var options = new StudioOptions();
        configuration.GetSection(StudioOptions.Section).Bind(options);
        return options;
    }

    /// <summary>
    /// Registers options, the studio database (EF Core on SQLite or PostgreSQL, Studio:Database) and Hangfire's
    /// storage (SQLite or PostgreSQL, Studio:Hangfire). Bad settings throw <see cref="StudioConfigurationException"/>.
    /// </summary>
    public static IServiceCollection AddStudioCore(this IServiceCollection services, StudioOptions options)
    {
        DataDirectory.EnsureWritable(options.ResolvedDataDirectory);
        ValidateStorage(options);
        services.AddSingleton(options);
        services.AddDbContextFactory<StudioDbContext>(db => ConfigureDatabase(db, options));
        services.AddHangfire(config => ConfigureHangfireStorage(config
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings(), options));
        services.AddSingleton<IArtifactStore>(new MountedArtifactStore(options));
        services.AddSingleton(new PathGuard(options));
        services.AddSingleton<RunFeed>();
        services.TryAddSingleton<IRunBroadcaster>(sp => sp.GetRequiredService<RunFeed>());
        services.AddSingleton<RunData>();
        services.AddSingleton<EvaluationFeed>();
        services.TryAddSingleton<IEvaluationBroadcaster>(sp => sp.GetRequiredService<EvaluationFeed>());
        services.AddSingleton<GenerationFeed>();
        services.TryAddSingleton<IGenerationBroadcaster>(sp => sp.GetRequiredService<GenerationFeed>());
        services.AddSingleton<PulseFeed>();
        services.AddSingleton<Evaluations.EvaluationService>();
        services.AddSingleton<RunService>();
        services.AddSingleton<GenerationService>();
        services.AddSingleton<Prompts.PromptSetService>();
        services.AddSingleton<Prompts.TokenLengths>();
        services.AddSingleton<ModelRegistry.ModelService>();
        services.TryAddSingleton<IRunExecutor, DistillRunExecutor>();
        services.TryAddSingleton<IGenerationExecutor, PipelineGenerationExecutor>();
        services.TryAddSingleton<ICheckpointExporter, DistillCheckpointExporter>();
        services.TryAddSingleton<IEvaluationExecutor, ToyEvaluationExecutor>();
        services.AddSingleton<Queue.RunReconciler>();
        services.AddTransient<RunJob>();
        services.AddTransient<GenerationJob>();
        services.AddTransient<ExportJob>();
        services.AddTransient<EvaluationJob>();
        return services;
    }

    static void ValidateStorage(StudioOptions options)
    {
        try
        {
            if (options.DatabaseProvider == StorageProviders.Postgres && string.IsNullOrWhiteSpace(options.Database.ConnectionString))
                throw new StudioConfigurationException("Studio:Database:ConnectionString is empty; PostgreSQL needs one (\"Host=...;Database=studio;Username=...;Password=...\")");
            if (options.HangfireProvider == StorageProviders.Postgres && string.IsNullOrWhiteSpace(options.HangfireConnectionString))
                throw new StudioConfigurationException("Studio:Hangfire:ConnectionString is empty and so is Studio:Database:ConnectionString; Hangfire on PostgreSQL needs one");
            if (options.HangfireProvider == StorageProviders.Postgres && options.Hangfire.InvisibilityTimeoutSeconds < 5)
                throw new StudioConfigurationException($"Studio:Hangfire:InvisibilityTimeoutSeconds is {options.Hangfire.InvisibilityTimeoutSeconds}; it must be at least 5");
            // A worker with a dtype no job could use is refused at start, not at each generation.
            Studio.Ml.Tensors.DType.ParseJob(options.JobDType, "Studio:DType");
            // So is a CLIP model folder that is not there (every evaluation would fail on it).
            if (options.JobClipModel is { } clip && !File.Exists(Path.Combine(clip, "config.json")))
                throw new StudioConfigurationException($"Studio:ClipModel is {clip}, which has no config.json: give a transformers CLIP model folder (openai/clip-vit-large-patch14) or leave it empty");
        }
        catch (ArgumentException e) { throw new StudioConfigurationException(e.Message); }
    }

    /// <summary>The studio's DbContext on the configured provider, with that provider's migrations assembly.</summary>
    public static DbContextOptionsBuilder ConfigureDatabase(DbContextOptionsBuilder db, StudioOptions options) =>
        options.DatabaseProvider == StorageProviders.Postgres
            ? db.UseNpgsql(options.Database.ConnectionString, pg => pg.MigrationsAssembly(StudioDbContext.PostgresMigrationsAssembly))
            : db.UseSqlite($"Data Source={options.DatabasePath}", sqlite => sqlite.MigrationsAssembly(StudioDbContext.MigrationsAssembly));

    /// <summary>Hangfire on SQLite (a file in the data directory) or PostgreSQL (its own schema, jobs renewed while they run).</summary>
    public static IGlobalConfiguration ConfigureHangfireStorage(IGlobalConfiguration config, StudioOptions options)
    {
        var poll = TimeSpan.FromMilliseconds(options.QueuePollMilliseconds);
        if (options.HangfireProvider == StorageProviders.Postgres)
            return config.UsePostgreSqlStorage(pg => pg.UseNpgsqlConnection(options.HangfireConnectionString), new PostgreSqlStorageOptions
            {
                SchemaName = options.Hangfire.Schema,
                QueuePollInterval = poll,
                // A killed worker's job becomes visible to the others after this long; live workers keep renewing theirs.
                InvisibilityTimeout = TimeSpan.FromSeconds(options.Hangfire.InvisibilityTimeoutSeconds),
                UseSlidingInvisibilityTimeout = true,
                PrepareSchemaIfNecessary = true,
            });
        return config.UseSQLiteStorage(options.HangfireDatabasePath, new SQLiteStorageOptions { QueuePollInterval = poll });
    }

    /// <summary>
    /// The Hangfire servers of this process: one on the configured queues with WorkerCount slots, and, when those
    /// include `interactive`, one more with InteractiveWorkerCount slots on `interactive` and the evaluations' queue
    /// (named NAME:interactive), so generations and evaluations never wait behind a run.
    /// </summary>
    public static IReadOnlyList<WorkerServer> WorkerServers(StudioOptions options, WorkerIdentity identity)
    {
        var servers = new List<WorkerServer> { new(identity.Name, ServedQueues(options.QueueNames), Math.Max(1, options.WorkerCount)) };
        if (options.InteractiveWorkerCount > 0 && options.QueueNames.Contains(Generations.GenerationService.Queue))
            servers.Add(new WorkerServer($"{identity.Name}:{Generations.GenerationService.Queue}", ServedQueues([Generations.GenerationService.Queue]), options.InteractiveWorkerCount));
        return servers;
    }

    /// <summary>
    /// The queues a server takes jobs from, in order: the configured ones, with the evaluations' queue right after
    /// `interactive` (a process that serves generations serves evaluations, after them), unless listed already.
    /// </summary>
    public static string[] ServedQueues(IReadOnlyList<string> configured)
    {
        var queues = configured.ToList();
        var interactive = queues.IndexOf(Generations.GenerationService.Queue);
        if (interactive >= 0 && !queues.Contains(Evaluations.EvaluationService.Queue)) queues.Insert(interactive + 1, Evaluations.EvaluationService.Queue);
        return [.. queues];
    }

    /// <summary>The Hangfire servers of <see cref="WorkerServers"/>; their names say which host (and device) runs them.</summary>
    public static IServiceCollection AddStudioWorker(this IServiceCollection services, StudioOptions options, string role)
    {
        // A worker writes every run's checkpoints and samples there: an unwritable root is refused at start, not by each run.
        DataDirectory.EnsureWritable(options.ArtifactRoot, "Studio:ArtifactRoot");
        var identity = WorkerIdentity.For(role, options.Device);
        services.AddSingleton(identity);
        services.AddHostedService<Queue.WorkerDevicePublisher>();
        services.AddHostedService<SpoolDeliveryService>();
        foreach (var worker in WorkerServers(options, identity))
            services.AddHangfireServer(server =>
            {
                server.ServerName = worker.Name;
                server.Queues = worker.Queues;
                server.WorkerCount = worker.WorkerCount;
                server.SchedulePollingInterval = TimeSpan.FromSeconds(1);
                server.HeartbeatInterval = TimeSpan.FromSeconds(Math.Max(1, options.HeartbeatSeconds));
                // Servers silent for WorkerTimeoutSeconds are removed from the list by any live server.
                server.ServerTimeout = TimeSpan.FromSeconds(Math.Max(options.WorkerTimeoutSeconds, 2 * options.HeartbeatSeconds));
                server.ServerCheckInterval = TimeSpan.FromSeconds(Math.Max(1, options.HeartbeatSeconds));
                // A cancelled (deleted) job's token fires within a second on whichever machine runs it.
                server.CancellationCheckInterval = TimeSpan.FromSeconds(1);
            });
        return services;
    }

    /// <summary>Brings the studio database to the current model.</summary>
    public static async Task MigrateStudioDatabaseAsync(this IServiceProvider services, CancellationToken ct = default)
    {
        var options = services.GetRequiredService<StudioOptions>();
        var factory = services.GetRequiredService<IDbContextFactory<StudioDbContext>>();
        // A damaged, read-only or unreachable database stops the process with one line naming it, not a crash.
        try
        {
            await using var db = await factory.CreateDbContextAsync(ct);
            await db.Database.MigrateAsync(ct);
        }
        catch (System.Data.Common.DbException e)
        {
            var where = options.DatabaseProvider == StorageProviders.Postgres ? "(PostgreSQL, Studio:Database:ConnectionString)" : options.DatabasePath;
            throw new StudioConfigurationException($"the studio database {where} cannot be used: {e.Message}");
        }
        // The queue's SQLite file is checked here with SQLite itself (read, and a write lock taken and given back):
        // resolving Hangfire's storage this early would also fix Hangfire's process-wide logger to this host.
        if (options.HangfireProvider != StorageProviders.Postgres && File.Exists(options.HangfireDatabasePath))
        {
            try
            {
                using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={options.HangfireDatabasePath};Mode=ReadWrite;Pooling=False");
                connection.Open();
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM sqlite_master; BEGIN IMMEDIATE; ROLLBACK;";
                command.ExecuteNonQuery();
            }
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                throw new StudioConfigurationException($"the queue database {options.HangfireDatabasePath} cannot be used: {e.Message}");
            }
        }
    }
}

public sealed class StudioConfigurationException(string message) : Exception(message);

/// <summary>One Hangfire server of a worker process: its name, the queues it serves in priority order, and its job slots.</summary>
public sealed record WorkerServer(string Name, string[] Queues, int WorkerCount);
