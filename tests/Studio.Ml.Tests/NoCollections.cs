namespace Studio.Ml.Tests;

/// <summary>
/// No garbage collection while a test runs, as far as the runtime allows: TorchSharp makes a Scalar for every `+`
/// between tensors (its `alpha`) and every `1 + x`, which nothing keeps alive while LibTorch reads it, so a collection
/// started by another thread (the test runner's) can finalize it under the kernel: "toFloat at c10/core/Scalar.h"
/// (docs/ARCHITECTURE.md, "TorchSharp temporaries"; it failed a clean-clone CI run again on 2026-12-05, single-threaded, in
/// AdaLayerNormZero's `1 + scale`). A no-GC region of <see cref="Budget"/> bytes holds until a test allocates more
/// (then a collection may happen as before); tensors are native memory and do not count.
/// </summary>
static class NoCollections
{
    const long Budget = 192L << 20;

    public static void Start()
    {
        try { GC.TryStartNoGCRegion(Budget); }
        catch (ArgumentOutOfRangeException) { } // more than this runtime's ephemeral space: collections as before
        catch (InvalidOperationException) { }   // a region is open already
    }

    public static void End()
    {
        if (System.Runtime.GCSettings.LatencyMode != System.Runtime.GCLatencyMode.NoGCRegion) return;
        try { GC.EndNoGCRegion(); }
        catch (InvalidOperationException) { } // the test allocated past the budget: the region had ended
    }
}
