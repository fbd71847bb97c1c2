// The verbs run in this process and compute with TorchSharp, whose temporary Scalars no dispose scope tracks: a
// garbage collection started by another test thread's allocations can finalize one under the LibTorch kernel reading
// it (see tests/Studio.Ml.Tests/TensorScopePerTest.cs). One test at a time leaves no other thread allocating.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
// And no garbage collection while a test runs, as far as the runtime allows (NoCollections: the runner's own threads).
[assembly: Studio.Cli.Tests.NoCollectionsPerTest]

namespace Studio.Cli.Tests
{
    [AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method)]
    public sealed class NoCollectionsPerTestAttribute : Xunit.Sdk.BeforeAfterTestAttribute
    {
        public override void Before(System.Reflection.MethodInfo methodUnderTest) => Studio.Ml.Tests.NoCollections.Start();
        public override void After(System.Reflection.MethodInfo methodUnderTest) => Studio.Ml.Tests.NoCollections.End();
    }
}
