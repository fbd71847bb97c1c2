using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Studio.Core.Live;

namespace Studio.Web.Tests;

/// <summary>Records what would be enqueued, with its queue, instead of enqueuing it.</summary>
sealed class RecordingJobs : IBackgroundJobClient
{
    public List<(Job Job, string Queue)> Created { get; } = [];

    public string Create(Job job, IState state)
    {
        Created.Add((job, (state as EnqueuedState)?.Queue ?? ""));
        return Created.Count.ToString();
    }

    public bool ChangeState(string jobId, IState state, string expectedState) => true;
}

/// <summary>A broadcaster for components that publish run batches no test listens to.</summary>
sealed class NoBroadcast : IRunBroadcaster
{
    public Task PublishAsync(RunBatch batch, CancellationToken ct = default) => Task.CompletedTask;
}
