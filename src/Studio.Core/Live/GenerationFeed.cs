using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;

namespace Studio.Core.Live;

/// <summary>
/// Pushes a generation's stored state (queued, progress, each image as it is written, the end) to whoever watches
/// generations. Called after the row is saved, so a page that loads later reads the same from the database.
/// </summary>
public interface IGenerationBroadcaster
{
    Task PublishAsync(Generation generation, CancellationToken ct = default);
}

/// <summary>In-process subscriptions to generation updates (the Blazor circuits of this process).</summary>
public sealed class GenerationFeed : InProcessFeed<Generation>, IGenerationBroadcaster
{
    public IDisposable Subscribe(Action<Generation> handler) => Subscribe(_ => true, handler);

    public Task PublishAsync(Generation generation, CancellationToken ct = default) => Publish(generation);
}

public static class GenerationBroadcasting
{
    /// <summary>Reads generation <paramref name="id"/> with its images as stored now and publishes it.</summary>
    public static async Task PublishStoredAsync(this IGenerationBroadcaster broadcaster, IDbContextFactory<StudioDbContext> dbFactory, int id)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var generation = await db.Generations.AsNoTracking().Include(g => g.Images).SingleOrDefaultAsync(g => g.Id == id);
        if (generation is not null) await broadcaster.PublishAsync(generation);
    }
}
