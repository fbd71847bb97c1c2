using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Npgsql;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Hosting;

namespace Studio.Worker.Tests;

/// <summary>
/// The PostgreSQL and Redis servers tests/run.sh starts (tests/services.sh): their addresses come in
/// STUDIO_TEST_POSTGRES and STUDIO_TEST_REDIS. Without them these tests fail saying how to start the servers; they
/// are never skipped.
/// </summary>
public static class TestServices
{
    const string HowTo = "start the test servers first: `source tests/services.sh && start_test_services` (tests/run.sh does this)";

    public static string Postgres => Environment.GetEnvironmentVariable("STUDIO_TEST_POSTGRES") is { Length: > 0 } cs
        ? cs : throw new InvalidOperationException($"STUDIO_TEST_POSTGRES is not set: {HowTo}");

    public static string Redis => Environment.GetEnvironmentVariable("STUDIO_TEST_REDIS") is { Length: > 0 } r
        ? r : throw new InvalidOperationException($"STUDIO_TEST_REDIS is not set: {HowTo}");

    /// <summary>A new, empty database on the test server; dropped by <see cref="TestDatabase.DisposeAsync"/>.</summary>
    public static async Task<TestDatabase> CreateDatabaseAsync()
    {
        var name = $"studio_test_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(Postgres))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }
        return new TestDatabase(name, new NpgsqlConnectionStringBuilder(Postgres) { Database = name }.ConnectionString);
    }
}

public sealed class TestDatabase(string name, string connectionString) : IAsyncDisposable
{
    public string ConnectionString { get; } = connectionString;

    public StudioOptions Options(string dataDirectory) => new()
    {
        DataDirectory = dataDirectory,
        Database = new StorageOptions { Provider = StorageProviders.Postgres, ConnectionString = ConnectionString },
    };

    public IDbContextFactory<StudioDbContext> Factory()
    {
        var builder = new DbContextOptionsBuilder<StudioDbContext>();
        StudioServices.ConfigureDatabase(builder, Options(Path.GetTempPath()));
        return new PooledDbContextFactory<StudioDbContext>(builder.Options);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(TestServices.Postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
