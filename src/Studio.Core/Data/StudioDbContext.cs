using Microsoft.EntityFrameworkCore;

namespace Studio.Core.Data;

/// <summary>
/// The studio's database: runs and their data, prompt sets, models, generations, evaluations. The users' tables in the
/// same database belong to the web host's own context (Studio.Web/Auth/StudioIdentityDbContext.cs).
/// </summary>
public class StudioDbContext(DbContextOptions<StudioDbContext> options) : DbContext(options)
{
    /// <summary>The assembly that holds the SQLite migrations (migrations/Studio.Migrations.csproj).</summary>
    public const string MigrationsAssembly = "Studio.Migrations";
    /// <summary>The assembly that holds the PostgreSQL migrations (migrations/Postgres), as EF recommends: one set per provider.</summary>
    public const string PostgresMigrationsAssembly = "Studio.Migrations.Postgres";

    public DbSet<Run> Runs => Set<Run>();
    public DbSet<MetricPoint> MetricPoints => Set<MetricPoint>();
    public DbSet<ValidationPoint> ValidationPoints => Set<ValidationPoint>();
    public DbSet<RunEvent> RunEvents => Set<RunEvent>();
    public DbSet<CheckpointEntry> Checkpoints => Set<CheckpointEntry>();
    public DbSet<SampleEntry> Samples => Set<SampleEntry>();
    public DbSet<PromptSet> PromptSets => Set<PromptSet>();
    public DbSet<PromptRow> PromptRows => Set<PromptRow>();
    public DbSet<ModelEntry> Models => Set<ModelEntry>();
    public DbSet<Generation> Generations => Set<Generation>();
    public DbSet<GenerationImage> GenerationImages => Set<GenerationImage>();
    public DbSet<CheckpointEvaluation> Evaluations => Set<CheckpointEvaluation>();
    public DbSet<SweepPlan> SweepPlans => Set<SweepPlan>();

    /// <summary>Every time is stored and read as UTC (PostgreSQL's timestamptz refuses unspecified kinds; SQLite forgets the kind).</summary>
    protected override void ConfigureConventions(ModelConfigurationBuilder conventions)
    {
        conventions.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        conventions.Properties<DateTime?>().HaveConversion<UtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<Run>(e =>
        {
            e.Property(r => r.Name).HasMaxLength(200);
            e.Property(r => r.Notes).HasMaxLength(Run.MaxNotesLength);
            e.Property(r => r.Group).HasMaxLength(200);
            e.Property(r => r.State).HasConversion<string>().HasMaxLength(20);
            e.Property(r => r.Queue).HasMaxLength(100);
            e.Property(r => r.Activity).HasMaxLength(200);
            e.HasIndex(r => r.State);
        });
        // Everything a run produced goes with it when it is deleted.
        b.Entity<MetricPoint>(e =>
        {
            e.HasOne<Run>().WithMany().HasForeignKey(p => p.RunId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(p => new { p.RunId, p.Stage, p.Step }).IsUnique();
            // Back-fill reads "steps after k" of one run.
            e.HasIndex(p => new { p.RunId, p.Step });
        });
        b.Entity<ValidationPoint>(e =>
        {
            e.HasOne<Run>().WithMany().HasForeignKey(p => p.RunId).OnDelete(DeleteBehavior.Cascade);
            e.Property(p => p.Category).HasMaxLength(200);
            e.HasIndex(p => new { p.RunId, p.Stage, p.Step, p.Category }).IsUnique();
        });
        b.Entity<RunEvent>(e =>
        {
            e.HasOne<Run>().WithMany().HasForeignKey(p => p.RunId).OnDelete(DeleteBehavior.Cascade);
            e.Property(p => p.Kind).HasMaxLength(40);
            e.HasIndex(p => new { p.RunId, p.Id });
        });
        b.Entity<CheckpointEntry>(e =>
        {
            e.HasOne<Run>().WithMany().HasForeignKey(p => p.RunId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(p => new { p.RunId, p.Path }).IsUnique();
        });
        b.Entity<SampleEntry>(e =>
        {
            e.HasOne<Run>().WithMany().HasForeignKey(p => p.RunId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(p => new { p.RunId, p.Step, p.PromptIndex, p.Seed, p.IsTeacher }).IsUnique();
        });
        b.Entity<PromptSet>(e =>
        {
            e.Property(p => p.Name).HasMaxLength(200);
            e.HasIndex(p => p.Name).IsUnique();
            e.HasMany(p => p.Rows).WithOne().HasForeignKey(r => r.PromptSetId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<PromptRow>(e =>
        {
            e.Property(r => r.Category).HasMaxLength(100);
            e.HasIndex(r => new { r.PromptSetId, r.LineNumber });
        });
        b.Entity<ModelEntry>(e =>
        {
            e.Property(m => m.Name).HasMaxLength(200);
            e.Property(m => m.Kind).HasConversion<string>().HasMaxLength(30);
            e.HasIndex(m => m.Folder).IsUnique();
        });
        b.Entity<Generation>(e =>
        {
            e.Property(g => g.State).HasConversion<string>().HasMaxLength(20);
            e.HasMany(g => g.Images).WithOne().HasForeignKey(i => i.GenerationId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<GenerationImage>(e => e.Property(i => i.State).HasConversion<string>().HasMaxLength(20));
        // A run's evaluations go with the run; the teacher's (no run) stay.
        b.Entity<CheckpointEvaluation>(e =>
        {
            e.HasOne<Run>().WithMany().HasForeignKey(v => v.RunId).OnDelete(DeleteBehavior.Cascade);
            e.Property(v => v.State).HasConversion<string>().HasMaxLength(20);
            e.Property(v => v.Pipeline).HasMaxLength(1000);
            e.Property(v => v.Encoder).HasMaxLength(200);
            e.Property(v => v.SizeLabel).HasMaxLength(100);
            e.Property(v => v.Loss).HasMaxLength(40);
            e.Property(v => v.Split).HasMaxLength(40);
            e.Property(v => v.Activity).HasMaxLength(200);
            e.HasIndex(v => v.RunId);
            e.HasIndex(v => v.CheckpointId);
        });
        b.Entity<SweepPlan>(e =>
        {
            e.Property(p => p.Group).HasMaxLength(200);
            e.Property(p => p.Queue).HasMaxLength(100);
            e.Property(p => p.MadeRuns).IsConcurrencyToken();
            e.HasIndex(p => p.Group).IsUnique();
        });
    }
}

/// <summary>Marks times UTC on the way in and out (they are UTC everywhere in the studio).</summary>
public sealed class UtcDateTimeConverter() : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTime, DateTime>(
    v => v.Kind == DateTimeKind.Utc ? v : v.Kind == DateTimeKind.Local ? v.ToUniversalTime() : DateTime.SpecifyKind(v, DateTimeKind.Utc),
    v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
