using System.Runtime;

namespace Studio.Ml.Tests;

/// <summary>The test host's guard against the TorchSharp Scalar hazard is really on (TensorScopePerTest.cs).</summary>
public class NoCollectionsTests
{
    [Fact]
    public void TestsRunInANoGcRegionThatHoldsThroughOrdinaryAllocation()
    {
        Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        var before = GC.CollectionCount(0);
        var kept = new List<byte[]>();
        for (var i = 0; i < 1000; i++) kept.Add(new byte[16 << 10]); // 16 MB in small objects, as a test's wrappers and lists
        Assert.Equal(before, GC.CollectionCount(0));
        Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        GC.KeepAlive(kept);
    }
}
