using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Runs;

namespace Studio.Core.ModelRegistry;

/// <summary>Registers local model folders (inside the allowed roots only, passing their checks) and keeps their inspection current.</summary>
public class ModelService(IDbContextFactory<StudioDbContext> dbFactory, PathGuard paths)
{
    public async Task<ModelEntry> RegisterAsync(string? name, ModelKind kind, string folder, CancellationToken ct = default)
    {
        var full = paths.Resolve(folder);
        if (!Directory.Exists(full)) throw new RunActionException($"'{folder}' is not a folder");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (await db.Models.AnyAsync(m => m.Folder == full, ct)) throw new RunActionException($"'{full}' is registered already");
        var entry = new ModelEntry { Name = string.IsNullOrWhiteSpace(name) ? Path.GetFileName(full) : name.Trim(), Kind = kind, Folder = full };
        var inspection = await Task.Run(() => ModelInspector.Inspect(full, kind), ct);
        // A folder that fails its checks is not registered: nothing could use it.
        if (inspection.Errors.Count > 0) throw new RunActionException($"'{full}' is not registered: {string.Join("; ", inspection.Errors)}");
        Apply(entry, inspection);
        db.Models.Add(entry);
        await db.SaveChangesAsync(ct);
        return entry;
    }

    /// <summary>Registers the built-in toy teacher (folder "toy") once, so a fresh studio has a default teacher pipeline.</summary>
    public async Task EnsureBuiltInAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (await db.Models.AnyAsync(m => m.Folder == ModelFolders.ToyTeacher, ct)) return;
        var entry = new ModelEntry { Name = ModelFolders.ToyTeacherName, Kind = ModelKind.TeacherPipeline, Folder = ModelFolders.ToyTeacher };
        Apply(entry, await Task.Run(() => ModelInspector.Inspect(ModelFolders.Resolve(entry.Folder), entry.Kind), ct));
        db.Models.Add(entry);
        await db.SaveChangesAsync(ct);
    }

    public async Task<ModelEntry> RecheckAsync(int id, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var entry = await db.Models.SingleOrDefaultAsync(m => m.Id == id, ct) ?? throw RunActionException.Missing($"model {id}");
        Apply(entry, await Task.Run(() => ModelInspector.Inspect(ModelFolders.Resolve(entry.Folder), entry.Kind), ct));
        await db.SaveChangesAsync(ct);
        return entry;
    }

    /// <summary>
    /// Model folders under the allowed roots that are not registered yet (<see cref="ModelDiscovery"/>), skipping the
    /// studio's artifacts.
    /// </summary>
    public async Task<IReadOnlyList<DiscoveredModel>> DiscoverAsync(string artifactRoot, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var registered = (await db.Models.Select(m => m.Folder).ToListAsync(ct)).ToHashSet();
        var found = await Task.Run(() => ModelDiscovery.Find(paths.Roots, [artifactRoot]), ct);
        // A folder reached through a link that leads outside the roots could not be registered: not offered.
        return found.Where(m => !registered.Contains(m.Folder) && paths.IsAllowed(m.Folder)).ToList();
    }

    /// <summary>Forgets a model folder (the files stay where they are); the built-in toy teacher stays.</summary>
    public async Task UnregisterAsync(int id, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (await db.Models.AnyAsync(m => m.Id == id && m.Folder == ModelFolders.ToyTeacher, ct))
            throw new RunActionException($"'{ModelFolders.ToyTeacherName}' is built in and cannot be unregistered");
        await db.Models.Where(m => m.Id == id).ExecuteDeleteAsync(ct);
    }

    /// <summary>The registered teacher pipelines, in the order they were registered (the built-in toy teacher first).</summary>
    public async Task<List<ModelEntry>> TeacherPipelinesAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Models.AsNoTracking().Where(m => m.Kind == ModelKind.TeacherPipeline).OrderBy(m => m.Id).ToListAsync(ct);
    }

    public async Task<List<ModelEntry>> ListAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Models.AsNoTracking().OrderBy(m => m.Kind).ThenBy(m => m.Name).ToListAsync(ct);
    }

    internal static void Apply(ModelEntry entry, ModelInspection inspection)
    {
        entry.Architecture = inspection.Architecture;
        entry.ParameterCount = inspection.ParameterCount;
        entry.DType = inspection.DType;
        entry.SizeBytes = inspection.SizeBytes;
        entry.ValidationErrors = string.Join('\n', inspection.Errors);
        entry.CheckedAt = DateTime.UtcNow;
    }
}
