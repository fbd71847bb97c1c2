using Microsoft.AspNetCore.SignalR;
using Studio.Core.Live;

namespace Studio.Web.Hubs;

/// <summary>
/// Sends each stored batch to the SignalR group of its run ("RunBatch" message, for browsers and scripts that
/// connect to /hubs/runs) and to the in-process feed that this host's Blazor pages subscribe to.
/// </summary>
public sealed class HubRunBroadcaster(IHubContext<RunsHub> hub, RunFeed feed) : IRunBroadcaster
{
    public const string Message = "RunBatch";

    public async Task PublishAsync(RunBatch batch, CancellationToken ct = default)
    {
        await feed.PublishAsync(batch, ct);
        await hub.Clients.Group(RunsHub.GroupOf(batch.RunId)).SendAsync(Message, batch, ct);
    }
}
