using System.Reflection;
using TorchSharp;
using Xunit.v3;

[assembly: Studio.Ml.Tests.TensorScopePerTest]
// One test at a time: TorchSharp's Scalars (every `1 + x`, `x * 0.5`) are temporaries that no dispose scope tracks,
// so a garbage collection during the native call can finalize one under the kernel that reads it. A collection while
// a thread is in native code is started by another thread's allocations; with one test thread there is almost none.
// Seen in a clean-clone CI run on 2026-12-04: "Expected false to be true ... toFloat at c10/core/Scalar.h" in
// AdaLayerNormZero's `1 + scale`, while another test class ran beside it.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Studio.Ml.Tests;

/// <summary>
/// Every test runs inside a TorchSharp dispose scope that holds each tensor the test creates until the test ends.
/// Without one, the temporary in the middle of a chain such as <c>(a - b).abs().max()</c> is referenced by nothing
/// while LibTorch still reads it: TorchSharp passes a raw handle, so a garbage collection during the native call can
/// run the temporary's finalizer and free it under the running kernel. Test classes run in parallel and allocate a
/// lot, so collections are frequent: a CI run lost this test host to a segfault in libtorch_cpu's reductions
/// (2026-12-04). The studio's own loops run inside dispose scopes; tests are held to the same.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method)]
public sealed class TensorScopePerTestAttribute : BeforeAfterTestAttribute
{
    // The tests of this assembly are synchronous: Before, the test and After run on one thread.
    [ThreadStatic] static DisposeScope? _scope;

    public override void Before(MethodInfo methodUnderTest, IXunitTest test)
    {
        _scope = torch.NewDisposeScope();
        NoCollections.Start();
    }

    public override void After(MethodInfo methodUnderTest, IXunitTest test)
    {
        NoCollections.End();
        _scope?.Dispose();
        _scope = null;
    }
}
