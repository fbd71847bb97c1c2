using System.Collections.Concurrent;
using Studio.Core.Data;

namespace Studio.Core.Live;

/// <summary>
/// Pushes an evaluation's stored state (queued, progress, metrics, failure) to whoever watches evaluations. Called
/// after the row is saved, so a page that loads later reads the same from the database.
/// </summary>
public interface IEvaluationBroadcaster
{
    Task PublishAsync(CheckpointEvaluation evaluation, CancellationToken ct = default);
}

/// <summary>
/// In-process subscriptions to evaluation updates (the Blazor circuits of this process), as <see cref="RunFeed"/> is
/// for run batches; the web host's broadcaster also sends each update to the SignalR group "evaluations".
/// </summary>
public sealed class EvaluationFeed : IEvaluationBroadcaster
{
    readonly ConcurrentDictionary<Guid, Action<CheckpointEvaluation>> _subscribers = new();

    public IDisposable Subscribe(Action<CheckpointEvaluation> handler)
    {
        var id = Guid.NewGuid();
        _subscribers[id] = handler;
        return new Subscription(() => _subscribers.TryRemove(id, out _));
    }

    public Task PublishAsync(CheckpointEvaluation evaluation, CancellationToken ct = default)
    {
        foreach (var handler in _subscribers.Values)
        {
            // A failing page must not stop the evaluation.
            try { handler(evaluation); } catch { }
        }
        return Task.CompletedTask;
    }

    sealed class Subscription(Action dispose) : IDisposable
    {
        int _disposed;
        public void Dispose() { if (Interlocked.Exchange(ref _disposed, 1) == 0) dispose(); }
    }
}
