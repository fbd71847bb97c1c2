namespace Studio.Core.Jobs;

/// <summary>What a generation or an evaluation is doing and how much of it is done (0 to 1).</summary>
public sealed record JobProgress(string Activity, double Fraction);

/// <summary>
/// A job's progress as its row stores it: <paramref name="write"/> (store the activity and fraction, push them to the
/// pages) runs for the first report, then at most once per <paramref name="interval"/>, and always for the last (fraction 1).
/// </summary>
public sealed class ThrottledProgress(TimeSpan interval, Action<JobProgress> write) : IProgress<JobProgress>
{
    /// <summary>The longest activity a row stores (the column's length).</summary>
    public const int ActivityLength = 200;

    DateTime _last = DateTime.MinValue;

    public void Report(JobProgress value)
    {
        if (DateTime.UtcNow - _last < interval && value.Fraction < 1) return;
        _last = DateTime.UtcNow;
        write(value.Activity.Length > ActivityLength ? value with { Activity = value.Activity[..ActivityLength] } : value);
    }
}

/// <summary>How a job's work ended: completed, cancelled through its token, or failed with the error its row stores.</summary>
public sealed record JobOutcome(bool Cancelled, string? Error)
{
    public bool Completed => !Cancelled && Error is null;

    /// <summary>
    /// Runs <paramref name="work"/>. The error of a failure is the exception's message alone when <paramref name="expected"/>
    /// says it is one the user can act on, else prefixed with the exception's type ("IOException: ...").
    /// </summary>
    public static async Task<JobOutcome> Of(Func<Task> work, Func<Exception, bool> expected, CancellationToken ct)
    {
        try
        {
            await work();
            return new JobOutcome(false, null);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { return new JobOutcome(true, null); }
        catch (Exception e) { return new JobOutcome(false, expected(e) ? e.Message : $"{e.GetType().Name}: {e.Message}"); }
    }

    /// <summary>Failures of what a generation or an evaluation was asked to do: a missing or invalid file, an unsupported or invalid setting.</summary>
    public static bool IsBadRequest(Exception e) =>
        e is NotSupportedException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ArgumentException;
}
