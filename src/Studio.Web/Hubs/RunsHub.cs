using Microsoft.AspNetCore.SignalR;

namespace Studio.Web.Hubs;

/// <summary>Live run data. Browsers join the group of the run they watch; metrics are pushed to that group.</summary>
public class RunsHub : Hub
{
    public const string Path = "/hubs/runs";

    public static string GroupOf(int runId) => $"run-{runId}";
    /// <summary>The watchers of evaluations (queued, progress, metrics, failures) of every run and teacher.</summary>
    public const string EvaluationsGroup = "evaluations";

    public Task WatchRun(int runId) => Groups.AddToGroupAsync(Context.ConnectionId, GroupOf(runId));

    public Task UnwatchRun(int runId) => Groups.RemoveFromGroupAsync(Context.ConnectionId, GroupOf(runId));

    public Task WatchEvaluations() => Groups.AddToGroupAsync(Context.ConnectionId, EvaluationsGroup);

    public Task UnwatchEvaluations() => Groups.RemoveFromGroupAsync(Context.ConnectionId, EvaluationsGroup);
}
