// The verbs run in this process and compute with TorchSharp, whose temporary Scalars no dispose scope tracks: a
// garbage collection started by another test thread's allocations can finalize one under the LibTorch kernel reading
// it (see tests/Studio.Ml.Tests/TensorScopePerTest.cs). One test at a time leaves no other thread allocating.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
