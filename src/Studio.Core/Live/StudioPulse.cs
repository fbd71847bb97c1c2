using Studio.Core.Queue;

namespace Studio.Core.Live;

/// <summary>
/// The studio's vital signs as the Home, Workers and Queue pages show them: run counts, queue lengths, workers, and
/// the work queued or running (runs, generations, evaluations).
/// </summary>
public sealed record StudioPulse(StudioCounts Counts, IReadOnlyList<WorkerInfo> Workers, IReadOnlyList<QueueInfo> Queues, DateTime Time,
    IReadOnlyList<ActiveWork>? Work = null);

/// <summary>
/// In-process subscriptions to the pulse. <see cref="LiveTailer"/> publishes one every <see cref="LiveTailer.PulseInterval"/>
/// (workers' heartbeats and the queue live in Hangfire's storage, which only a reader can see change);
/// <see cref="Latest"/> lets a page draw at once before the next one arrives.
/// </summary>
public sealed class PulseFeed : InProcessFeed<StudioPulse>
{
    public StudioPulse? Latest { get; private set; }

    public IDisposable Subscribe(Action<StudioPulse> handler) => Subscribe(_ => true, handler);

    public Task PublishAsync(StudioPulse pulse)
    {
        Latest = pulse;
        return Publish(pulse);
    }
}
