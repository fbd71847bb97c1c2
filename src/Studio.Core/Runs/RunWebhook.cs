using System.Globalization;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Runs;

/// <summary>
/// Tells a chat channel (or any HTTP endpoint) how a run ended: a JSON POST to Studio:Webhook when a run completes,
/// fails or is cancelled, with a one-line "text" (Slack and Mattermost incoming webhooks show it; Discord's "content"
/// carries the same line) and the run's numbers under "run". A webhook that fails never fails the run: the run's log
/// says why.
/// </summary>
public sealed class RunWebhook(StudioOptions options, HttpClient? http = null)
{
    static readonly HttpClient Shared = new() { Timeout = TimeSpan.FromSeconds(10) };
    readonly HttpClient _http = http ?? Shared;

    public bool Enabled => !string.IsNullOrWhiteSpace(options.Webhook);

    /// <summary>The line a person reads: "Run 3 “lr · lr=3e-4” completed: step 8,000 / 8,000, loss 0.0123 (group lr) http://studio/runs/3".</summary>
    public string Text(Run run)
    {
        var state = run.State.ToString().ToLowerInvariant() + (run.StoppedEarly ? " (stopped early)" : "");
        var loss = run.LastLoss is { } l && double.IsFinite(l) ? $", loss {l.ToString("G4", CultureInfo.InvariantCulture)}" : "";
        var error = run.Error is { Length: > 0 } e ? $": {e.Split('\n', 2)[0].Trim()}" : "";
        var group = run.Group is { } g ? $" (group {g})" : "";
        return $"Run {run.Id} “{run.Name}” {state}{error}: step {run.Step:N0} / {run.TotalSteps:N0}{loss}{group}" + (Link(run) is { } link ? $" {link}" : "");
    }

    string? Link(Run run) => string.IsNullOrWhiteSpace(options.PublicUrl) ? null : $"{options.PublicUrl.TrimEnd('/')}/runs/{run.Id}";

    /// <summary>
    /// Announces a run that has ended (completed, failed, cancelled: by its job, or by the reconciler when its worker
    /// is gone); an announcement that fails becomes a warning line in the run's log.
    /// </summary>
    public async Task AnnounceAsync(Run run, IDbContextFactory<StudioDbContext> dbFactory, IRunBroadcaster broadcaster, CancellationToken ct = default)
    {
        if (!Enabled || run.State is not (RunState.Completed or RunState.Failed or RunState.Cancelled)) return;
        if (await NotifyAsync(run, ct) is not { } undelivered) return;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var e = new RunEvent
        {
            RunId = run.Id, Kind = "Warning", Stage = run.Stage, Step = run.Step, Time = DateTime.UtcNow,
            Message = $"Not announced: {undelivered} (Studio:Webhook).",
        };
        db.RunEvents.Add(e);
        await db.SaveChangesAsync(ct);
        await broadcaster.PublishAsync(new RunBatch(run.Id, [], [], [e], null), ct);
    }

    /// <summary>Posts the run's ending; null when it was delivered (or no webhook is set), else why not.</summary>
    public async Task<string?> NotifyAsync(Run run, CancellationToken ct = default)
    {
        if (!Enabled) return null;
        if (!Uri.TryCreate(options.Webhook, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            return $"Studio:Webhook '{options.Webhook}' is not an http or https address";
        var text = Text(run);
        var body = new
        {
            text,
            content = text,
            run = new
            {
                run.Id, run.Name, State = run.State.ToString(), run.Step, run.TotalSteps, run.LastLoss, run.Error, run.Group,
                run.Worker, run.StartedAt, run.FinishedAt, Url = Link(run),
            },
        };
        try
        {
            using var response = await _http.PostAsJsonAsync(url, body, ct);
            return response.IsSuccessStatusCode ? null : $"the webhook answered {(int)response.StatusCode} {response.ReasonPhrase}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return $"the webhook could not be reached ({e.Message})";
        }
    }
}
