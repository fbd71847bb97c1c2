using Studio.Core.Live;

namespace Studio.Web.Tests;

/// <summary>A broadcaster for components that publish run batches no test listens to.</summary>
sealed class NoBroadcast : IRunBroadcaster
{
    public Task PublishAsync(RunBatch batch, CancellationToken ct = default) => Task.CompletedTask;
}
