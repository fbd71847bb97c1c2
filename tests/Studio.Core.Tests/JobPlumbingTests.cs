using Studio.Core.Jobs;

namespace Studio.Core.Tests;

public class JobPlumbingTests
{
    [Fact]
    public void ProgressIsWrittenFirstThenNotBeforeTheIntervalExceptTheLastReportAndLongActivitiesAreCut()
    {
        var written = new List<JobProgress>();
        var progress = new ThrottledProgress(TimeSpan.FromDays(1), written.Add);
        progress.Report(new JobProgress("loading", 0));
        progress.Report(new JobProgress("step 1/2", 0.5));
        progress.Report(new JobProgress(new string('x', 250), 1));

        Assert.Equal(2, written.Count);
        Assert.Equal(new JobProgress("loading", 0), written[0]);
        Assert.Equal(new string('x', 200), written[1].Activity);
        Assert.Equal(1, written[1].Fraction);
    }

    [Fact]
    public async Task AReportHeldBackIsWrittenOnceTheIntervalHasPassedUnlessANewerOneReplacedItOrTheJobEnded()
    {
        var written = new List<JobProgress>();
        using (var progress = new ThrottledProgress(TimeSpan.FromMilliseconds(200), p => { lock (written) written.Add(p); }))
        {
            progress.Report(new JobProgress("loading the teacher pipeline", 0));
            progress.Report(new JobProgress("generating 0/50", 0.01));
            progress.Report(new JobProgress("generating 1/50", 0.02));
            // The job now works for a long while without reporting: the newest report must not wait for the next one.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline && written.Count < 2) await Task.Delay(20);
            lock (written) Assert.Equal([new JobProgress("loading the teacher pipeline", 0), new JobProgress("generating 1/50", 0.02)], written);
        }

        // After the job ended (disposed), a report held back is dropped: the row's ending is the job's to write.
        written.Clear();
        var ended = new ThrottledProgress(TimeSpan.FromMilliseconds(100), p => { lock (written) written.Add(p); });
        ended.Report(new JobProgress("generating 1/2", 0.5));
        ended.Report(new JobProgress("generating 2/2", 0.9));
        ended.Dispose();
        await Task.Delay(400);
        ended.Report(new JobProgress("late", 0.95));
        lock (written) Assert.Equal([new JobProgress("generating 1/2", 0.5)], written);
    }

    [Fact]
    public async Task AnOutcomeIsCompletedCancelledOrFailedWithTheTypeNamedOnlyForUnexpectedErrors()
    {
        Assert.True((await JobOutcome.Of(() => Task.CompletedTask, JobOutcome.IsBadRequest, CancellationToken.None)).Completed);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var stopped = await JobOutcome.Of(() => Task.FromCanceled(cancelled.Token), JobOutcome.IsBadRequest, cancelled.Token);
        Assert.Equal(new JobOutcome(true, null), stopped);

        var bad = await JobOutcome.Of(() => throw new FileNotFoundException("teacher/model_index.json: not found"), JobOutcome.IsBadRequest, CancellationToken.None);
        Assert.Equal(new JobOutcome(false, "teacher/model_index.json: not found"), bad);
        var broken = await JobOutcome.Of(() => throw new IOException("disk full"), JobOutcome.IsBadRequest, CancellationToken.None);
        Assert.Equal(new JobOutcome(false, "IOException: disk full"), broken);

        // A cancellation the job's token did not ask for is a failure.
        var stray = await JobOutcome.Of(() => throw new OperationCanceledException("timed out"), JobOutcome.IsBadRequest, CancellationToken.None);
        Assert.Equal(new JobOutcome(false, "OperationCanceledException: timed out"), stray);
    }
}
