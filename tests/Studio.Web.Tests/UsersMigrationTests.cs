using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Web.Auth;

namespace Studio.Web.Tests;

/// <summary>
/// The users' tables belong to StudioIdentityDbContext (Studio.Web), the rest to StudioDbContext (Studio.Core), both in
/// one SQLite file. A new database gets the users' tables from the identity context's migrations; a database made by
/// the version that kept them in StudioDbContext keeps its users.
/// </summary>
public class UsersMigrationTests
{
    static string NewDatabase() => Path.Combine(Directory.CreateTempSubdirectory("studio-users-").FullName, "studio.db");

    static StudioDbContext Studio(string path) => new(new DbContextOptionsBuilder<StudioDbContext>()
        .UseSqlite($"Data Source={path}", s => s.MigrationsAssembly(StudioDbContext.MigrationsAssembly)).Options);

    static SqliteIdentityDbContext Users(string path)
    {
        var options = new DbContextOptionsBuilder<SqliteIdentityDbContext>();
        SqliteIdentityDbContext.Configure(options, path);
        return new(options.Options);
    }

    /// <summary>The SQL of the users' tables and indexes, as SQLite keeps it.</summary>
    static async Task<List<string>> UsersSchema(string path)
    {
        await using var db = Users(path);
        return await db.Database.SqlQueryRaw<string>(
            "SELECT sql AS \"Value\" FROM sqlite_master WHERE tbl_name LIKE 'AspNet%' AND sql IS NOT NULL ORDER BY name").ToListAsync();
    }

    static async Task MigrateBoth(string path)
    {
        await using (var studio = Studio(path)) await studio.Database.MigrateAsync();
        await using (var users = Users(path)) await users.MigrateAsync();
    }

    [Fact]
    public async Task ANewDatabaseGetsTheUsersTablesFromTheIdentityContext()
    {
        var path = NewDatabase();
        await using (var studio = Studio(path)) await studio.Database.MigrateAsync();
        Assert.Empty(await UsersSchema(path));

        await using (var users = Users(path))
        {
            await users.MigrateAsync();
            Assert.Empty(await users.Database.GetPendingMigrationsAsync());
            Assert.False(users.Database.HasPendingModelChanges(), "the users' model has changes that no migration covers: add one in src/Studio.Web/Auth/Migrations (docs/ARCHITECTURE.md, 'Migrations')");
            users.Users.Add(new StudioUser { UserName = "ada", NormalizedUserName = "ADA" });
            await users.SaveChangesAsync();
        }
        await using (var users = Users(path))
            Assert.Equal("ada", (await users.Users.SingleAsync(u => u.NormalizedUserName == "ADA")).UserName);
        // The history tables stay apart: the studio's lists its own migrations only.
        await using (var studio = Studio(path))
            Assert.Equal(studio.Database.GetMigrations(), await studio.Database.GetAppliedMigrationsAsync());
    }

    [Fact]
    public void ThePostgresMigrationsCoverTheUsersModel()
    {
        // Compares the model with the migrations' snapshot; no server is contacted.
        using var users = new PostgresIdentityDesignTimeFactory().CreateDbContext([]);
        Assert.NotEmpty(users.Database.GetMigrations());
        Assert.False(users.Database.HasPendingModelChanges(), "the users' model has changes that no PostgreSQL migration covers: add one in src/Studio.Web/Auth/Migrations/Postgres (docs/ARCHITECTURE.md, 'Migrations')");
    }

    [Fact]
    public async Task ADatabaseMadeByThePreviousVersionKeepsItsUsers()
    {
        var fresh = NewDatabase();
        await MigrateBoth(fresh);

        var path = NewDatabase();
        var script = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", "studio-db-before-users-moved.sql"));
        await using (var old = Studio(path))
        {
            await old.Database.ExecuteSqlRawAsync(script);
            // A user and their role, as the previous version stored them.
            await old.Database.ExecuteSqlRawAsync("""
                INSERT INTO "AspNetRoles" ("Id", "Name", "NormalizedName") VALUES ('r1', 'admin', 'ADMIN');
                INSERT INTO "AspNetUsers" ("Id", "UserName", "NormalizedUserName", "PasswordHash", "EmailConfirmed", "PhoneNumberConfirmed",
                                           "TwoFactorEnabled", "LockoutEnabled", "AccessFailedCount")
                VALUES ('u1', 'ada', 'ADA', 'hash-from-before', 0, 0, 0, 1, 2);
                INSERT INTO "AspNetUserRoles" ("UserId", "RoleId") VALUES ('u1', 'r1');
                """);
        }

        await MigrateBoth(path);
        await MigrateBoth(path); // starting again changes nothing

        await using (var users = Users(path))
        {
            Assert.Equal(users.Database.GetMigrations(), await users.Database.GetAppliedMigrationsAsync());
            var ada = await users.Users.SingleAsync();
            Assert.Equal(("u1", "ada", "hash-from-before", 2), (ada.Id, ada.UserName, ada.PasswordHash, ada.AccessFailedCount));
            var roles = await users.UserRoles.Where(r => r.UserId == "u1").Join(users.Roles, ur => ur.RoleId, r => r.Id, (_, r) => r.Name).ToListAsync();
            Assert.Equal(["admin"], roles);
        }
        await using (var studio = Studio(path))
            Assert.Empty(await studio.Database.GetPendingMigrationsAsync());
        // The adopted tables are the ones the identity context makes in a new database.
        var adopted = await UsersSchema(path);
        Assert.Equal(14, adopted.Count); // 7 tables, 7 indexes (sqlite_master keeps no SQL for primary-key indexes)
        Assert.Equal(await UsersSchema(fresh), adopted);
    }
}
