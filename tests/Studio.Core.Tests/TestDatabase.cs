using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;

namespace Studio.Core.Tests;

/// <summary>A migrated studio database in a temporary folder, with a context factory like the apps'.</summary>
public sealed class TestDatabase : IDbContextFactory<StudioDbContext>
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("studio-core-test-").FullName;
    readonly DbContextOptions<StudioDbContext> _options;

    TestDatabase()
    {
        _options = new DbContextOptionsBuilder<StudioDbContext>()
            .UseSqlite($"Data Source={Path.Combine(Directory, "studio.db")}", s => s.MigrationsAssembly(StudioDbContext.MigrationsAssembly))
            .Options;
    }

    public static async Task<TestDatabase> CreateAsync()
    {
        var db = new TestDatabase();
        await using var context = db.CreateDbContext();
        await context.Database.MigrateAsync();
        return db;
    }

    public StudioDbContext CreateDbContext() => new(_options);

    public async Task<Run> AddRunAsync(string name = "probe", RunState state = RunState.Running)
    {
        await using var db = CreateDbContext();
        var run = new Run { Name = name, State = state };
        db.Runs.Add(run);
        await db.SaveChangesAsync();
        return run;
    }
}
