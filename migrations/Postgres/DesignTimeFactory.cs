using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Studio.Core.Data;

namespace Studio.Migrations.Postgres;

/// <summary>Used only by `dotnet ef` to build the model (no server is contacted); the apps configure the context from appsettings.json.</summary>
public class DesignTimeFactory : IDesignTimeDbContextFactory<StudioDbContext>
{
    public StudioDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<StudioDbContext>()
            .UseNpgsql("Host=localhost;Database=studio_design_time", pg => pg.MigrationsAssembly(StudioDbContext.PostgresMigrationsAssembly))
            .Options);
}
