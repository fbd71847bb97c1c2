namespace Studio.Ml.Training;

/// <summary>
/// Counter-based randomness: every random choice of a run is a pure function of (seed, purpose, counters), so a
/// resumed run draws exactly what an uninterrupted one would, with no generator state to save.
/// </summary>
public static class DeterministicRandom
{
    /// <summary>A 64-bit seed mixed from the run seed, a purpose tag and counters (SplitMix64 finaliser).</summary>
    public static long Seed(int runSeed, string purpose, params long[] counters)
    {
        ulong h = Mix((ulong)(uint)runSeed ^ 0x9E3779B97F4A7C15UL);
        foreach (var c in purpose) h = Mix(h ^ c);
        foreach (var c in counters) h = Mix(h ^ (ulong)c);
        return (long)(h & 0x7FFF_FFFF_FFFF_FFFFUL);
    }

    /// <summary>A uniform double in [0, 1) for (seed, purpose, counters).</summary>
    public static double Uniform(int runSeed, string purpose, params long[] counters) =>
        (Seed(runSeed, purpose, counters) >> 11) * (1.0 / (1L << 52));

    static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
