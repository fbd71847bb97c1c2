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
public sealed class EvaluationFeed : InProcessFeed<CheckpointEvaluation>, IEvaluationBroadcaster
{
    public IDisposable Subscribe(Action<CheckpointEvaluation> handler) => Subscribe(_ => true, handler);

    public Task PublishAsync(CheckpointEvaluation evaluation, CancellationToken ct = default) => Publish(evaluation);
}
