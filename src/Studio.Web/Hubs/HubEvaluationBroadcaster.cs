using Microsoft.AspNetCore.SignalR;
using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Web.Hubs;

/// <summary>
/// Sends each evaluation update to this host's pages (the in-process feed) and to the SignalR group "evaluations"
/// ("Evaluation" message, for clients that called WatchEvaluations on /hubs/runs).
/// </summary>
public sealed class HubEvaluationBroadcaster(IHubContext<RunsHub> hub, EvaluationFeed feed) : IEvaluationBroadcaster
{
    public const string Message = "Evaluation";

    public async Task PublishAsync(CheckpointEvaluation evaluation, CancellationToken ct = default)
    {
        await feed.PublishAsync(evaluation, ct);
        await hub.Clients.Group(RunsHub.EvaluationsGroup).SendAsync(Message, evaluation, ct);
    }
}
