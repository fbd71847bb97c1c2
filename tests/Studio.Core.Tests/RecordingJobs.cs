using Hangfire;
using Hangfire.Common;
using Hangfire.States;

namespace Studio.Core.Tests;

/// <summary>A job client that records what would be queued, and where, instead of queueing it (Studio.Web.Tests links this file).</summary>
sealed class RecordingJobs : IBackgroundJobClient
{
    public List<(Job Job, string Queue)> Created { get; } = [];

    public string Create(Job job, IState state)
    {
        Created.Add((job, (state as EnqueuedState)?.Queue ?? ""));
        return Created.Count.ToString();
    }

    /// <summary>State changes asked for (a deletion is what a cancel asks), by job id and state name.</summary>
    public List<(string JobId, string State)> Changed { get; } = [];

    public bool ChangeState(string jobId, IState state, string expectedState)
    {
        Changed.Add((jobId, state.Name));
        return true;
    }
}
