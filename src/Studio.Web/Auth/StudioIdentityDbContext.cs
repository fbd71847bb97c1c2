using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Studio.Core;

namespace Studio.Web.Auth;

/// <summary>
/// The users, roles and claims (ASP.NET Core Identity): tables in the studio's database, next to StudioDbContext's,
/// with their own migrations and history table, so that Studio.Core and the worker need no ASP.NET Core. One subclass per
/// provider holds that provider's migrations (Auth/Migrations/Sqlite and Auth/Migrations/Postgres).
/// </summary>
public abstract class StudioIdentityDbContext(DbContextOptions options) : IdentityDbContext<StudioUser>(options)
{
    public const string HistoryTable = "__IdentityMigrationsHistory";

    /// <summary>The configured provider's context on the studio's database.</summary>
    public static IServiceCollection AddStudioIdentityDatabase(IServiceCollection services, StudioOptions options) =>
        options.DatabaseProvider == StorageProviders.Postgres
            ? services.AddDbContext<StudioIdentityDbContext, PostgresIdentityDbContext>(db => PostgresIdentityDbContext.Configure(db, options.Database.ConnectionString))
            : services.AddDbContext<StudioIdentityDbContext, SqliteIdentityDbContext>(db => SqliteIdentityDbContext.Configure(db, options.DatabasePath));

    /// <summary>
    /// Brings the users' tables to the current model. Until they moved here, StudioDbContext's migration "Users" created
    /// them: in a database made then, this context's first migration (which creates the same tables) is recorded as
    /// applied instead of run, and the users stay.
    /// </summary>
    public async Task MigrateAsync(CancellationToken ct = default)
    {
        if (!(await Database.GetAppliedMigrationsAsync(ct)).Any() && await UsersTableExistsAsync(ct))
        {
            var history = this.GetService<IHistoryRepository>();
            await Database.ExecuteSqlRawAsync(history.GetCreateIfNotExistsScript(), ct);
            await Database.ExecuteSqlRawAsync(history.GetInsertScript(new HistoryRow(Database.GetMigrations().First(), ProductInfo.GetVersion())), ct);
        }
        await Database.MigrateAsync(ct);
    }

    async Task<bool> UsersTableExistsAsync(CancellationToken ct) =>
        (await Database.SqlQueryRaw<int>(UsersTableCountSql).ToListAsync(ct)).Single() > 0;

    /// <summary>One row, column "Value": 1 when the table AspNetUsers exists, else 0.</summary>
    protected abstract string UsersTableCountSql { get; }
}

public sealed class SqliteIdentityDbContext(DbContextOptions<SqliteIdentityDbContext> options) : StudioIdentityDbContext(options)
{
    public static DbContextOptionsBuilder Configure(DbContextOptionsBuilder db, string databasePath) =>
        db.UseSqlite($"Data Source={databasePath}", sqlite => sqlite.MigrationsHistoryTable(HistoryTable));

    protected override string UsersTableCountSql =>
        "SELECT COUNT(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = 'AspNetUsers'";
}

public sealed class PostgresIdentityDbContext(DbContextOptions<PostgresIdentityDbContext> options) : StudioIdentityDbContext(options)
{
    public static DbContextOptionsBuilder Configure(DbContextOptionsBuilder db, string connectionString) =>
        db.UseNpgsql(connectionString, pg => pg.MigrationsHistoryTable(HistoryTable));

    protected override string UsersTableCountSql =>
        "SELECT COUNT(*)::int AS \"Value\" FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'AspNetUsers'";
}

/// <summary>For `dotnet ef migrations add NAME -p src/Studio.Web -s src/Studio.Web -c SqliteIdentityDbContext -o Auth/Migrations/Sqlite`.</summary>
public sealed class SqliteIdentityDesignTimeFactory : IDesignTimeDbContextFactory<SqliteIdentityDbContext>
{
    public SqliteIdentityDbContext CreateDbContext(string[] args)
    {
        var db = new DbContextOptionsBuilder<SqliteIdentityDbContext>();
        SqliteIdentityDbContext.Configure(db, "design-time.db");
        return new(db.Options);
    }
}

/// <summary>For `dotnet ef migrations add NAME -p src/Studio.Web -s src/Studio.Web -c PostgresIdentityDbContext -o Auth/Migrations/Postgres` (no server is contacted).</summary>
public sealed class PostgresIdentityDesignTimeFactory : IDesignTimeDbContextFactory<PostgresIdentityDbContext>
{
    public PostgresIdentityDbContext CreateDbContext(string[] args)
    {
        var db = new DbContextOptionsBuilder<PostgresIdentityDbContext>();
        PostgresIdentityDbContext.Configure(db, "Host=localhost;Database=studio_design_time");
        return new(db.Options);
    }
}
