using Studio.Ml.Diffusion;

namespace Studio.Ml.Tests.Diffusion;

public class PipelineCacheTests
{
    sealed class FakePipeline(string name, long bytes) : IDisposable
    {
        public string Name { get; } = name;
        public long Bytes { get; } = bytes;
        public bool Disposed { get; private set; }
        public void Dispose() => Disposed = true;
    }

    static PipelineKey Key(string name) => PipelineKey.Of("/models/" + name, null, "bfloat16");

    [Fact]
    public void ALoadedPipelineIsReusedUntilMemoryIsNeeded()
    {
        using var cache = new PipelineCache<FakePipeline>(100, p => p.Bytes);
        var loads = 0;
        FakePipeline Load(string name) { loads++; return new FakePipeline(name, 60); }

        FakePipeline a;
        using (var lease = cache.Acquire(Key("a"), () => Load("a"))) a = lease.Pipeline;
        using (var lease = cache.Acquire(Key("a"), () => Load("a"))) Assert.Same(a, lease.Pipeline);
        Assert.Equal(1, loads);

        // b does not fit beside a, and a is not in use: a goes.
        using (var lease = cache.Acquire(Key("b"), () => Load("b"))) Assert.Equal("b", lease.Pipeline.Name);
        Assert.True(a.Disposed);
        Assert.Equal([Key("b")], cache.Loaded);
        Assert.Equal(60, cache.LoadedBytes);
    }

    [Fact]
    public void APipelineInUseIsNotEvictedAndTheLeastRecentlyUsedGoesFirst()
    {
        using var cache = new PipelineCache<FakePipeline>(100, p => p.Bytes);
        var a = cache.Acquire(Key("a"), () => new FakePipeline("a", 40));
        var b = cache.Acquire(Key("b"), () => new FakePipeline("b", 40));
        b.Dispose();
        var c = cache.Acquire(Key("c"), () => new FakePipeline("c", 40));
        // a is held, so b (unused) is evicted to make room for c.
        Assert.False(a.Pipeline.Disposed);
        Assert.True(b.Pipeline.Disposed);
        var d = cache.Acquire(Key("d"), () => new FakePipeline("d", 40));
        // a and c are held: over budget until one is released.
        Assert.Equal(120, cache.LoadedBytes);
        a.Dispose();
        Assert.True(a.Pipeline.Disposed);
        Assert.False(c.Pipeline.Disposed || d.Pipeline.Disposed);
        c.Dispose();
        d.Dispose();
        d.Dispose(); // a second dispose of a lease is harmless
        cache.Dispose();
        Assert.True(c.Pipeline.Disposed && d.Pipeline.Disposed);
    }

    [Fact]
    public void ConcurrentRequestsForOneKeyLoadItOnce()
    {
        using var cache = new PipelineCache<FakePipeline>(1000, p => p.Bytes);
        var loads = 0;
        Parallel.For(0, 8, _ =>
        {
            using var lease = cache.Acquire(Key("a"), () => { Interlocked.Increment(ref loads); Thread.Sleep(50); return new FakePipeline("a", 10); });
        });
        Assert.Equal(1, loads);
    }
}
