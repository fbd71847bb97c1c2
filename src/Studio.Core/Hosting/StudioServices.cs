using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Studio.Core.Data;

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
        return services;
    }

    /// <summary>A Hangfire server on the configured queues; its name says which host runs it.</summary>
    public static IServiceCollection AddStudioWorker(this IServiceCollection services, StudioOptions options, string role)
    {
        services.AddHangfireServer(server =>
        {
            server.ServerName = $"{role}:{Environment.MachineName}:{Environment.ProcessId}";
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
