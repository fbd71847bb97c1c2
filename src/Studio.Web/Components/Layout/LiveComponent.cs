using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.Logging;
using MudBlazor;

namespace Studio.Web.Components.Layout;

/// <summary>
/// A page or component that shows pushed live data (runs' batches, evaluations, generations, the studio's pulse). The
/// feeds call their subscribers on the publisher's thread, so each update is applied through <see cref="Live(Func{Task})"/>
/// on the component's own dispatcher. An update that fails there (the database busy while the page reads what a batch
/// names, a bug) is logged and said in one warning, not lost silently and not turned into the page's error panel: the
/// page keeps what it shows and applies the next update as usual.
/// </summary>
public abstract class LiveComponent : ComponentBase
{
    /// <summary>The warning's key: one warning at a time, however many updates fail while it is shown.</summary>
    public const string WarningKey = "live-update-failed";

    [Inject] ILogger<LiveComponent> Logger { get; set; } = default!;
    [Inject] ISnackbar Snackbar { get; set; } = default!;
    [Inject] NavigationManager Navigation { get; set; } = default!;

    /// <summary>Applies a pushed update on this component's dispatcher (safe to call from any thread).</summary>
    protected void Live(Action apply) => Live(() =>
    {
        apply();
        return Task.CompletedTask;
    });

    /// <inheritdoc cref="Live(Action)"/>
    protected void Live(Func<Task> apply) => _ = InvokeAsync(async () =>
    {
        try { await apply(); }
        catch (Exception error)
        {
            Logger.LogWarning(error, "{Component}: a live update failed", GetType().Name);
            Snackbar.Add($"A live update could not be shown ({error.Message}). The page keeps what it showed and takes the next " +
                         "update as usual; reload it to catch up.", Severity.Warning, options =>
            {
                options.Action = "Reload";
                options.OnClick = _ =>
                {
                    Navigation.NavigateTo(Navigation.Uri, forceLoad: true);
                    return Task.CompletedTask;
                };
            }, key: WarningKey);
        }
    });
}
