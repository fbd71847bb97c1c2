using Studio.Core.Data;
using Studio.Core.Live;

namespace Studio.Core.Tests;

[CollectionDefinition("standard error", DisableParallelization = true)]
public class StandardErrorCollection;

/// <summary>A subscriber that throws stops neither the publisher nor the other subscribers, and its failure is said.</summary>
[Collection("standard error")]
public class InProcessFeedTests
{
    [Fact]
    public async Task AFailingSubscriberIsReportedAndTheOthersAreServed()
    {
        var feed = new RunFeed();
        var seen = new List<int>();
        using var first = feed.Subscribe(null, b => seen.Add(b.RunId));
        using var failing = feed.Subscribe(null, _ => throw new InvalidOperationException("the page is gone"));
        using var last = feed.Subscribe(null, b => seen.Add(-b.RunId));
        var error = new StringWriter();
        var before = Console.Error;
        Console.SetError(error);
        try { await feed.PublishAsync(RunBatch.OfStatus(new RunStatus(7, RunState.Running, 0, null, 1, 10, 0.5, 1, null, "w", null))); }
        finally { Console.SetError(before); }
        Assert.Equal([-7, 7], seen.Order());
        Assert.Contains("RunFeed: a subscriber failed (InvalidOperationException: the page is gone); the others were served", error.ToString());
    }
}
