using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Web.Tests;

/// <summary>A broadcaster for components that publish run batches no test listens to.</summary>
sealed class NoBroadcast : IRunBroadcaster
{
    public Task PublishAsync(RunBatch batch, CancellationToken ct = default) => Task.CompletedTask;
}

/// <summary>A fresh studio database in a test's folder (studio.db, created from the model), with a pooled context factory as the apps use.</summary>
static class TestStudioDb
{
    public static IDbContextFactory<StudioDbContext> Create(string folder)
    {
        var db = new PooledDbContextFactory<StudioDbContext>(
            new DbContextOptionsBuilder<StudioDbContext>().UseSqlite($"Data Source={Path.Combine(folder, "studio.db")}").Options);
        using var context = db.CreateDbContext();
        context.Database.EnsureCreated();
        return db;
    }
}
