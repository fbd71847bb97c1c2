using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// Where a run's dropout masks come from (<see cref="Distiller"/>). Runs training at once in one process (a worker with
/// Studio:WorkerCount 2) must not draw each other's masks, or neither is repeatable.
/// </summary>
public enum DropoutRandom
{
    /// <summary>The run's own generator where TorchSharp can make one for the device (the CPU), else the device's.</summary>
    Auto,
    /// <summary>The run's own generator, seeded at each update (TorchSharp 0.107 makes CPU generators only).</summary>
    RunGenerator,
    /// <summary>
    /// The device's one global generator (a GPU's): each student forward holds <see cref="DeviceDropout"/>'s lock, seeds
    /// the generator from the run's seed, the update and the micro-batch, and draws its masks before letting go.
    /// </summary>
    DeviceGenerator,
}

/// <summary>
/// The process-wide lock around the device's global generator for <see cref="DropoutRandom.DeviceGenerator"/>: a
/// forward's kernels take their random offsets when they are launched, so a forward seeded and launched under the lock
/// draws from its own seed, whatever another thread seeds next. Runs training at once in one process take turns at their
/// students' forwards only (the frozen transformer and the backward run side by side).
/// </summary>
public static class DeviceDropout
{
    static readonly object Gate = new();

    /// <summary>Takes the lock and seeds the global generators with <paramref name="seed"/>; disposing (on the same thread) lets go.</summary>
    public static IDisposable Seeded(long seed)
    {
        Monitor.Enter(Gate);
        try { manual_seed(seed); }
        catch { Monitor.Exit(Gate); throw; }
        return new Release();
    }

    sealed class Release : IDisposable
    {
        bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            Monitor.Exit(Gate);
        }
    }
}
