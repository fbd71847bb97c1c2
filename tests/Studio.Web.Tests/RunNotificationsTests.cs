using Bunit;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

/// <summary>Every page announces a run it saw active when that run ends, with a way to open it; nothing old is announced.</summary>
public class RunNotificationsTests
{
    static RunStatus Status(int run, RunState state, long step = 10, string? error = null) =>
        new(run, state, 0, null, step, 400, 0.0176, 11.6, null, "web:vm:1", error);

    [Fact]
    public async Task ARunSeenTrainingThatEndsIsAnnouncedOnceAndARunFirstSeenEndedIsNot()
    {
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var feed = new RunFeed();
        ctx.Services.AddSingleton(feed);
        var cut = ctx.Render<RunNotifications>();
        var snackbar = ctx.Services.GetRequiredService<ISnackbar>();

        await feed.PublishAsync(RunBatch.OfStatus(Status(7, RunState.Completed)));  // ended before this page saw it run
        await feed.PublishAsync(RunBatch.OfStatus(Status(4, RunState.Running)));
        await feed.PublishAsync(RunBatch.OfStatus(Status(5, RunState.Running)));
        await feed.PublishAsync(RunBatch.OfStatus(Status(4, RunState.Completed, step: 400)));
        await feed.PublishAsync(RunBatch.OfStatus(Status(4, RunState.Completed, step: 400))); // published again (the tailer)
        await feed.PublishAsync(RunBatch.OfStatus(Status(5, RunState.Failed, error: "CUDA out of memory")));

        cut.WaitForAssertion(() => Assert.Equal(2, snackbar.ShownSnackbars.Count()), TimeSpan.FromSeconds(15));
        var shown = snackbar.ShownSnackbars.ToList();
        Assert.Equal(("Run 4 completed: 400 updates, loss 0.0176.", Severity.Success), (shown[0].Message, shown[0].Severity));
        Assert.Equal(("Run 5 failed: CUDA out of memory", Severity.Error), (shown[1].Message, shown[1].Severity));

        // Resumed, a run's notice of its ending goes; the other run's stays.
        await feed.PublishAsync(RunBatch.OfStatus(Status(5, RunState.Queued)));
        cut.WaitForAssertion(() => Assert.Equal(["Run 4 completed: 400 updates, loss 0.0176."], snackbar.ShownSnackbars.Select(b => b.Message)), TimeSpan.FromSeconds(15));
    }
}
