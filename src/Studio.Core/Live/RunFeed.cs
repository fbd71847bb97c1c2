namespace Studio.Core.Live;

/// <summary>
/// In-process subscriptions to run batches; the web host's broadcaster also sends every batch to the SignalR group of
/// the run for other clients.
/// </summary>
public sealed class RunFeed : InProcessFeed<RunBatch>, IRunBroadcaster
{
    /// <summary>Receives the batches of one run, or of every run when <paramref name="runId"/> is null.</summary>
    public IDisposable Subscribe(int? runId, Action<RunBatch> handler) =>
        Subscribe(batch => runId is null || runId == batch.RunId, handler);

    public Task PublishAsync(RunBatch batch, CancellationToken ct = default) => Publish(batch);
}
