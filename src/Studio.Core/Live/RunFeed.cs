using System.Collections.Concurrent;

namespace Studio.Core.Live;

/// <summary>
/// In-process subscriptions to run batches: the Blazor circuits of this process subscribe here (they run on the
/// server, so they need no network hop); the web host's broadcaster also sends every batch to the SignalR group of
/// the run for other clients.
/// </summary>
public sealed class RunFeed : IRunBroadcaster
{
    readonly ConcurrentDictionary<Guid, (int? RunId, Action<RunBatch> Handler)> _subscribers = new();

    /// <summary>Receives the batches of one run, or of every run when <paramref name="runId"/> is null.</summary>
    public IDisposable Subscribe(int? runId, Action<RunBatch> handler)
    {
        var id = Guid.NewGuid();
        _subscribers[id] = (runId, handler);
        return new Subscription(() => _subscribers.TryRemove(id, out _));
    }

    public Task PublishAsync(RunBatch batch, CancellationToken ct = default)
    {
        foreach (var (runId, handler) in _subscribers.Values)
            if (runId is null || runId == batch.RunId)
            {
                // A failing page must not stop the run's reporter.
                try { handler(batch); } catch { }
            }
        return Task.CompletedTask;
    }

    sealed class Subscription(Action dispose) : IDisposable
    {
        int _disposed;
        public void Dispose() { if (Interlocked.Exchange(ref _disposed, 1) == 0) dispose(); }
    }
}
