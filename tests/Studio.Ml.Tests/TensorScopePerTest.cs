using System.Reflection;
using TorchSharp;
using Xunit.Sdk;

[assembly: Studio.Ml.Tests.TensorScopePerTest]

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

    public override void Before(MethodInfo methodUnderTest) => _scope = torch.NewDisposeScope();

    public override void After(MethodInfo methodUnderTest)
    {
        _scope?.Dispose();
        _scope = null;
    }
}
