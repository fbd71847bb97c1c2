using Studio.Ml.Training;
namespace Studio.Ml.Distillation;

/// <summary>A prompt with the category its losses are reported under.</summary>
public sealed record Prompt(string Text, string Category);

/// <summary>One source of a stage's mix: its prompts, sampling weight and repeat count.</summary>
public sealed record PromptPool(string Name, IReadOnlyList<Prompt> Prompts, double Weight, int Repeat);

/// <summary>
/// The deterministic data order of a stage. Each draw picks a source with probability proportional to
/// weight x repeat x size (all weights 1 = the plain concatenation with repeats that the paper uses), then takes the
/// next prompt of that source's own seeded permutation (a fresh permutation per pass over the source).
/// The position in the order is the per-source cursors plus the number of draws: that is what a checkpoint stores.
/// </summary>
public sealed class PromptMix
{
    readonly IReadOnlyList<PromptPool> _pools;
    readonly double[] _cumulative;
    readonly int _seed;
    readonly int _stage;

    public MixPosition Position { get; private set; }

    public PromptMix(IReadOnlyList<PromptPool> pools, int seed, int stage, MixPosition? position = null)
    {
        if (pools.Count == 0) throw new ArgumentException($"stage {stage}: no prompt sets");
        foreach (var p in pools)
        {
            if (p.Prompts.Count == 0) throw new ArgumentException($"stage {stage}: prompt set '{p.Name}' is empty");
            if (p.Weight <= 0 || p.Repeat <= 0) throw new ArgumentException($"stage {stage}: prompt set '{p.Name}' needs weight > 0 and repeat >= 1");
        }
        _pools = pools;
        _seed = seed;
        _stage = stage;
        var total = pools.Sum(p => p.Weight * p.Repeat * p.Prompts.Count);
        _cumulative = new double[pools.Count];
        double acc = 0;
        for (int i = 0; i < pools.Count; i++) _cumulative[i] = (acc += pools[i].Weight * pools[i].Repeat * pools[i].Prompts.Count / total);
        Position = position ?? new MixPosition(0, new long[pools.Count]);
        if (Position.Cursors.Length != pools.Count)
            throw new ArgumentException($"stage {stage}: saved data position has {Position.Cursors.Length} sources, the stage has {pools.Count}");
    }

    public IReadOnlyList<Prompt> NextBatch(int batchSize)
    {
        var batch = new List<Prompt>(batchSize);
        var cursors = (long[])Position.Cursors.Clone();
        var draws = Position.Draws;
        for (int b = 0; b < batchSize; b++, draws++)
        {
            var u = DeterministicRandom.Uniform(_seed, "mix-source", _stage, draws);
            var source = Array.FindIndex(_cumulative, c => u < c);
            if (source < 0) source = _pools.Count - 1;
            batch.Add(Take(source, cursors[source]++));
        }
        Position = new MixPosition(draws, cursors);
        return batch;
    }

    Prompt Take(int source, long cursor)
    {
        var prompts = _pools[source].Prompts;
        var pass = cursor / prompts.Count;
        var index = (int)(cursor % prompts.Count);
        return prompts[Permutation(source, pass, prompts.Count)[index]];
    }

    // Cached permutation of the current pass of each source.
    readonly Dictionary<(int, long), int[]> _permutations = new();

    int[] Permutation(int source, long pass, int n)
    {
        if (_permutations.TryGetValue((source, pass), out var p)) return p;
        if (_permutations.Count > 64) _permutations.Clear();
        var rng = new Random((int)(DeterministicRandom.Seed(_seed, "mix-permutation", _stage, source, pass) & int.MaxValue));
        p = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(p);
        return _permutations[(source, pass)] = p;
    }
}

/// <summary>Where a stage's data order stands: total draws and the per-source cursors.</summary>
public sealed record MixPosition(long Draws, long[] Cursors);
