using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Studio.Core.Data;

namespace Studio.Core.Tests;

/// <summary>
/// Contexts on a test database that count the queries sent through them; with <see cref="HoldFirst"/>, the first query
/// waits that long before it runs (asynchronously), so that a second caller can start meanwhile.
/// </summary>
sealed class CountingDbFactory(TestDatabase db) : DbCommandInterceptor, IDbContextFactory<StudioDbContext>
{
    public int Commands;
    public TimeSpan HoldFirst { get; init; }

    public StudioDbContext CreateDbContext() => new(new DbContextOptionsBuilder<StudioDbContext>()
        .UseSqlite($"Data Source={Path.Combine(db.Directory, "studio.db")}").AddInterceptors(this).Options);

    public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Increment(ref Commands) == 1 && HoldFirst > TimeSpan.Zero) await Task.Delay(HoldFirst, cancellationToken);
        return result;
    }
}
