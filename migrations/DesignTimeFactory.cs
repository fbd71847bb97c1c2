using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Studio.Core.Data;

namespace Studio.Migrations;

/// <summary>Used only by `dotnet ef` to build the model; the apps configure the context from appsettings.json.</summary>
public class DesignTimeFactory : IDesignTimeDbContextFactory<StudioDbContext>
{
    public StudioDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<StudioDbContext>()
            .UseSqlite("Data Source=design-time.db", s => s.MigrationsAssembly(StudioDbContext.MigrationsAssembly))
            .Options);
}
