using System.Collections.Concurrent;

namespace Studio.Core.Live;

/// <summary>
/// In-process subscriptions to published items: the Blazor circuits of this process subscribe here (they run on the
/// server, so they need no network hop). A failing subscriber never stops the publisher (a run's reporter, a job).
/// </summary>
public abstract class InProcessFeed<T>
{
    readonly ConcurrentDictionary<Guid, (Func<T, bool> Wants, Action<T> Handler)> _subscribers = new();

    /// <summary>Whether any page of this process listens now (a publisher can skip work nobody would see).</summary>
    public bool HasSubscribers => !_subscribers.IsEmpty;

    protected IDisposable Subscribe(Func<T, bool> wants, Action<T> handler)
    {
        var id = Guid.NewGuid();
        _subscribers[id] = (wants, handler);
        return new Subscription(() => _subscribers.TryRemove(id, out _));
    }

    protected Task Publish(T item)
    {
        foreach (var (wants, handler) in _subscribers.Values)
            if (wants(item))
            {
                // Pages apply updates through LiveComponent.Live, which does not throw here; anything else that does is said.
                try { handler(item); }
                catch (Exception e) { Console.Error.WriteLine($"{GetType().Name}: a subscriber failed ({e.GetType().Name}: {e.Message}); the others were served"); }
            }
        return Task.CompletedTask;
    }

    sealed class Subscription(Action dispose) : IDisposable
    {
        int _disposed;
        public void Dispose() { if (Interlocked.Exchange(ref _disposed, 1) == 0) dispose(); }
    }
}
