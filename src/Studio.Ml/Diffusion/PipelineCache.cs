namespace Studio.Ml.Diffusion;

/// <summary>What identifies a loaded pipeline: its folder, what fills its T5 slot, and its dtype and device.</summary>
public sealed record PipelineKey(string Folder, string? TextEncoder2, string DType, string Device = "cpu")
{
    public static PipelineKey Of(string folder, string? textEncoder2, string dtype, string device = "cpu") =>
        new(Path.GetFullPath(folder), textEncoder2 is null ? null : Path.GetFullPath(textEncoder2), dtype, device);
}

/// <summary>
/// Keeps recently used pipelines loaded so interactive generation does not reload weights. Entries are leased while in
/// use; when the loaded pipelines together exceed the memory budget, the least recently used ones that nobody holds
/// are disposed (a pipeline larger than the whole budget is still loaded, alone).
/// </summary>
public sealed class PipelineCache<TPipeline>(long budgetBytes, Func<TPipeline, long> sizeOf) : IDisposable where TPipeline : class, IDisposable
{
    sealed class Entry(TPipeline pipeline, long bytes)
    {
        public TPipeline Pipeline { get; } = pipeline;
        public long Bytes { get; } = bytes;
        public int Leases;
        public long LastUsed;
    }

    readonly object _gate = new();
    readonly Dictionary<PipelineKey, Entry> _entries = new();
    readonly Dictionary<PipelineKey, object> _loading = new();
    long _clock;

    public long BudgetBytes { get; } = budgetBytes;

    /// <summary>Bytes held by the loaded pipelines.</summary>
    public long LoadedBytes { get { lock (_gate) return _entries.Values.Sum(e => e.Bytes); } }

    public IReadOnlyCollection<PipelineKey> Loaded { get { lock (_gate) return _entries.Keys.ToList(); } }

    /// <summary>The pipeline for <paramref name="key"/>, loaded by <paramref name="load"/> if it is not held; dispose the lease when done.</summary>
    public Lease Acquire(PipelineKey key, Func<TPipeline> load)
    {
        // One load per key at a time; other keys load concurrently.
        object keyGate;
        lock (_gate)
        {
            if (TryLease(key) is { } held) return held;
            if (!_loading.TryGetValue(key, out keyGate!)) _loading[key] = keyGate = new object();
        }
        lock (keyGate)
        {
            lock (_gate)
                if (TryLease(key) is { } loadedMeanwhile) return loadedMeanwhile;
            var pipeline = load();
            lock (_gate)
            {
                var entry = new Entry(pipeline, sizeOf(pipeline)) { Leases = 1, LastUsed = ++_clock };
                _entries[key] = entry;
                _loading.Remove(key);
                Evict();
                return new Lease(this, key, pipeline);
            }
        }
    }

    Lease? TryLease(PipelineKey key)
    {
        if (!_entries.TryGetValue(key, out var entry)) return null;
        entry.Leases++;
        entry.LastUsed = ++_clock;
        return new Lease(this, key, entry.Pipeline);
    }

    void Release(PipelineKey key)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var entry)) entry.Leases--;
            Evict();
        }
    }

    void Evict()
    {
        var total = _entries.Values.Sum(e => e.Bytes);
        foreach (var (key, entry) in _entries.Where(p => p.Value.Leases == 0).OrderBy(p => p.Value.LastUsed).ToList())
        {
            if (total <= BudgetBytes) break;
            _entries.Remove(key);
            total -= entry.Bytes;
            entry.Pipeline.Dispose();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var entry in _entries.Values) entry.Pipeline.Dispose();
            _entries.Clear();
        }
    }

    /// <summary>A pipeline in use: it is not evicted until the lease is disposed.</summary>
    public sealed class Lease(PipelineCache<TPipeline> cache, PipelineKey key, TPipeline pipeline) : IDisposable
    {
        int _released;
        public TPipeline Pipeline { get; } = pipeline;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) cache.Release(key);
        }
    }
}
