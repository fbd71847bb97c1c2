using Microsoft.EntityFrameworkCore;

namespace Studio.Core.Data;

public class StudioDbContext(DbContextOptions<StudioDbContext> options) : DbContext(options)
{
    /// <summary>The assembly that holds the migrations (the project under migrations/).</summary>
    public const string MigrationsAssembly = "Studio.Migrations";

    public DbSet<Run> Runs => Set<Run>();

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<Run>(e =>
        {
            e.Property(r => r.Name).HasMaxLength(200);
            e.Property(r => r.State).HasConversion<string>().HasMaxLength(20);
            e.HasIndex(r => r.State);
        });
    }
}
