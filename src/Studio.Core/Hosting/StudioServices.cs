using Hangfire;
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

    /// <summary>Registers options, the studio database (EF Core, SQLite) and Hangfire storage.</summary>
    public static IServiceCollection AddStudioCore(this IServiceCollection services, StudioOptions options)
    {
        DataDirectory.EnsureWritable(options.ResolvedDataDirectory);
        services.AddSingleton(options);
        services.AddDbContextFactory<StudioDbContext>(db =>
            db.UseSqlite($"Data Source={options.DatabasePath}",
                sqlite => sqlite.MigrationsAssembly(StudioDbContext.MigrationsAssembly)));
        services.AddHangfire(config => config
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseSQLiteStorage(options.HangfireDatabasePath, new SQLiteStorageOptions
            {
                QueuePollInterval = TimeSpan.FromMilliseconds(options.QueuePollMilliseconds),
            }));
        services.AddSingleton(new PathGuard(options));
        services.AddSingleton<RunFeed>();
        services.TryAddSingleton<IRunBroadcaster>(sp => sp.GetRequiredService<RunFeed>());
        services.AddSingleton<RunData>();
        services.AddSingleton<RunService>();
        services.AddSingleton<GenerationService>();
        services.AddSingleton<Prompts.PromptSetService>();
        services.AddSingleton<Prompts.TokenLengths>();
        services.AddSingleton<Models.ModelService>();
        services.TryAddSingleton<IRunExecutor, DistillRunExecutor>();
        services.TryAddSingleton<IGenerationExecutor, FluxGenerationExecutor>();
        services.TryAddSingleton<ICheckpointExporter, DistillCheckpointExporter>();
        services.AddTransient<RunJob>();
        services.AddTransient<GenerationJob>();
        services.AddTransient<ExportJob>();
        return services;
    }

    /// <summary>A Hangfire server on the configured queues; its name says which host runs it.</summary>
    public static IServiceCollection AddStudioWorker(this IServiceCollection services, StudioOptions options, string role)
    {
        var identity = WorkerIdentity.For(role);
        services.AddSingleton(identity);
        services.AddHostedService<Queue.WorkerDevicePublisher>();
        services.AddHangfireServer(server =>
        {
            server.ServerName = identity.Name;
            server.Queues = options.QueueNames;
            server.WorkerCount = Math.Max(1, options.WorkerCount);
            server.SchedulePollingInterval = TimeSpan.FromSeconds(1);
        });
        return services;
    }

    /// <summary>Brings the studio database to the current model.</summary>
    public static async Task MigrateStudioDatabaseAsync(this IServiceProvider services, CancellationToken ct = default)
    {
        var factory = services.GetRequiredService<IDbContextFactory<StudioDbContext>>();
        await using var db = await factory.CreateDbContextAsync(ct);
        await db.Database.MigrateAsync(ct);
    }
}
