namespace Studio.Core.Jobs;

/// <summary>What a generation or an evaluation is doing and how much of it is done (0 to 1).</summary>
public sealed record JobProgress(string Activity, double Fraction)
{
    /// <summary>
    /// The activity of a running generation or evaluation whose cancel was asked for: its progress does not overwrite
    /// it, and a job that finishes before its worker sees the deleted job ends cancelled all the same.
    /// </summary>
    public const string Cancelling = "cancelling";
}

/// <summary>
/// A job's progress as its row stores it: <paramref name="write"/> (store the activity and fraction, push them to the
/// pages) runs for the first report, then at most once per <paramref name="interval"/> (a report held back is written
/// when the interval has passed, unless a newer one replaced it), and always for the last (fraction 1).
/// </summary>
public sealed class ThrottledProgress(TimeSpan interval, Action<JobProgress> write) : IProgress<JobProgress>, IDisposable
{
    /// <summary>The longest activity a row stores (the column's length).</summary>
    public const int ActivityLength = 200;

    readonly Lock _gate = new();
    DateTime _last = DateTime.MinValue;
    JobProgress? _pending;
    Timer? _timer;
    bool _disposed;

    /// <summary>
    /// Writes the report now when the interval has passed since the last write (or it is the last one, fraction 1);
    /// otherwise keeps it and writes it when the interval has passed, unless a newer one came first: a page never
    /// stays on an activity the job has left ("loading" while it generates) for longer than the interval.
    /// </summary>
    public void Report(JobProgress value)
    {
        lock (_gate)
        {
            if (_disposed) return;
            var since = DateTime.UtcNow - _last;
            if (since < interval && value.Fraction < 1)
            {
                _pending = value;
                _timer ??= new Timer(_ => Flush(), null, interval - since, Timeout.InfiniteTimeSpan);
                return;
            }
            _pending = null;
            StopTimer();
            Write(value);
        }
    }

    void Flush()
    {
        lock (_gate)
        {
            StopTimer();
            if (_disposed || _pending is not { } value) return;
            _pending = null;
            Write(value);
        }
    }

    void StopTimer()
    {
        _timer?.Dispose();
        _timer = null;
    }

    void Write(JobProgress value)
    {
        _last = DateTime.UtcNow;
        write(value.Activity.Length > ActivityLength ? value with { Activity = value.Activity[..ActivityLength] } : value);
    }

    /// <summary>Drops a report not written yet (the job writes its ending itself) and waits for a write under way.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _pending = null;
            StopTimer();
        }
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
