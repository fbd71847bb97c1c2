using Studio.Core.Data;

namespace Studio.Core.Live;

/// <summary>Where a run is now: the numbers the Runs table and the run page header show.</summary>
public sealed record RunStatus(int RunId, RunState State, int Stage, string? Activity, long Step, long TotalSteps,
    double? LastLoss, double UpdatesPerSecond, double? EtaSeconds, string? Worker, string? Error,
    DateTime? StartedAt = null, DateTime? FinishedAt = null, double? ActivityFraction = null)
{
    public static RunStatus Of(Run r) =>
        new(r.Id, r.State, r.Stage, r.Activity, r.Step, r.TotalSteps, r.LastLoss, r.UpdatesPerSecond, r.EtaSeconds, r.Worker, r.Error,
            r.StartedAt, r.FinishedAt, r.ActivityFraction);

    /// <summary>Brings a page's copy of the run up to this status.</summary>
    public void ApplyTo(Run r) =>
        (r.State, r.Stage, r.Activity, r.Step, r.TotalSteps, r.LastLoss, r.UpdatesPerSecond, r.EtaSeconds, r.Worker, r.Error, r.StartedAt, r.FinishedAt, r.ActivityFraction) =
        (State, Stage, Activity, Step, TotalSteps, LastLoss, UpdatesPerSecond, EtaSeconds, Worker, Error, StartedAt, FinishedAt, ActivityFraction);
}

/// <summary>What one flush of a run's reporter stored, pushed to everyone watching that run.</summary>
public sealed record RunBatch(
    int RunId,
    IReadOnlyList<MetricPoint> Metrics,
    IReadOnlyList<ValidationPoint> Validation,
    IReadOnlyList<RunEvent> Events,
    RunStatus? Status)
{
    public static RunBatch OfStatus(RunStatus status) => new(status.RunId, [], [], [], status);
}

/// <summary>
/// Pushes stored run data to the browsers watching a run. Called after the data is in the database, so a browser
/// that joins late back-fills from the database and misses nothing.
/// </summary>
public interface IRunBroadcaster
{
    Task PublishAsync(RunBatch batch, CancellationToken ct = default);
}
