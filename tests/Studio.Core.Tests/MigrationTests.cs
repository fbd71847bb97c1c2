using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Studio.Core.Data;
using Studio.Core.Hosting;

namespace Studio.Core.Tests;

public class MigrationTests
{
    static DbContextOptions<StudioDbContext> SqliteOptions(string path) =>
        new DbContextOptionsBuilder<StudioDbContext>()
            .UseSqlite($"Data Source={path}", s => s.MigrationsAssembly(StudioDbContext.MigrationsAssembly))
            .Options;

    [Fact]
    public async Task FreshDatabaseMigratesToTheCurrentModel()
    {
        var dir = Directory.CreateTempSubdirectory("studio-migrate-");
        await using var db = new StudioDbContext(SqliteOptions(Path.Combine(dir.FullName, "studio.db")));
        Assert.NotEmpty(db.Database.GetMigrations());
        await db.Database.MigrateAsync();
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        // The migrations describe exactly the current model: nothing was changed without a migration.
        Assert.False(db.Database.HasPendingModelChanges(), "the model has changes that no migration covers: add one (docs/ARCHITECTURE.md, 'Migrations')");
        db.Runs.Add(new Run { Name = "probe", State = RunState.Running });
        await db.SaveChangesAsync();
        Assert.Equal(RunState.Running, (await db.Runs.SingleAsync()).State);
    }

    [Fact]
    public async Task GenerationsStoredBeforeTrueCfgReadAsScaleOneAndTheEmptyNegativePrompt()
    {
        var dir = Directory.CreateTempSubdirectory("studio-migrate-");
        await using var db = new StudioDbContext(SqliteOptions(Path.Combine(dir.FullName, "studio.db")));
        var migrator = db.GetService<Microsoft.EntityFrameworkCore.Migrations.IMigrator>();
        await migrator.MigrateAsync("EvaluationIntervals");
        await db.Database.ExecuteSqlRawAsync(
            "INSERT INTO Generations (Prompt, Seed, Steps, Guidance, Width, Height, State, Progress, CreatedAt) VALUES ('old', 1, 2, 3.5, 64, 64, 'Completed', 1, '2026-12-01 00:00:00')");
        await db.Database.MigrateAsync();
        var old = await db.Generations.SingleAsync();
        Assert.Equal(("old", 1.0, ""), (old.Prompt, old.TrueCfgScale, old.NegativePrompt));
        // Neither had a LoRA: none, at scale 1.
        Assert.Equal(((string?)null, 1.0), (old.LoraPath, old.LoraScale));
    }

    [Fact]
    public async Task GenerationsAndEvaluationsStoredBeforeLorasReadAsNoneAtScaleOneWithTheirSettingsKeyUnchanged()
    {
        var dir = Directory.CreateTempSubdirectory("studio-migrate-");
        await using var db = new StudioDbContext(SqliteOptions(Path.Combine(dir.FullName, "studio.db")));
        var migrator = db.GetService<Microsoft.EntityFrameworkCore.Migrations.IMigrator>();
        await migrator.MigrateAsync("GenerationClipScore");
        await db.Database.ExecuteSqlRawAsync(
            "INSERT INTO Generations (Prompt, Seed, Steps, Guidance, TrueCfgScale, NegativePrompt, Width, Height, State, Progress, CreatedAt) VALUES ('old', 1, 2, 3.5, 1, '', 64, 64, 'Completed', 1, '2026-12-01 00:00:00')");
        await db.Database.ExecuteSqlRawAsync(
            "INSERT INTO Evaluations (Pipeline, Encoder, SizeLabel, Split, State, Step, PromptsPerCategory, Seeds, Steps, Guidance, Progress, CreatedAt) VALUES ('toy', 'teacher', 'teacher', 'heldout', 'Completed', 0, 10, 1, 20, 3.5, 1, '2026-12-01 00:00:00')");
        await db.Database.MigrateAsync();
        var generation = await db.Generations.SingleAsync();
        Assert.Equal(((string?)null, 1.0), (generation.LoraPath, generation.LoraScale));
        var evaluation = await db.Evaluations.SingleAsync();
        Assert.Equal(((string?)null, 1.0), (evaluation.LoraPath, evaluation.LoraScale));
        Assert.Equal("heldout · 10/category · 1 seed(s) · 20 steps · guidance 3.5", evaluation.SettingsKey);
    }

    [Fact]
    public void UnwritableDataDirectoryIsNamedInTheError()
    {
        var dir = Directory.CreateTempSubdirectory("studio-ro-");
        var file = Path.Combine(dir.FullName, "not-a-directory");
        File.WriteAllText(file, "");
        var target = Path.Combine(file, "data");
        var e = Assert.Throws<DataDirectoryException>(() => DataDirectory.EnsureWritable(target));
        Assert.Contains(target, e.Message);
        Assert.Contains("Studio__DataDirectory", e.Message);
    }
}
