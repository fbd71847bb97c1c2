using Studio.Ml.Distillation;
using Studio.Ml.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Distillation;

public class FusedAdamWTests
{
    public FusedAdamWTests() => TorchRuntime.Initialise();

    [Fact]
    public void FollowsTorchSharpsAdamWStepForStep()
    {
        // One parameter large enough for the parallel pass, one with a vector tail, one without a gradient.
        var generator = new Generator(3);
        Tensor[] initial = [randn([70_001], generator: generator), randn([5, 7], generator: generator), randn([3], generator: generator)];
        var reference = initial.Select(t => new Parameter(t.clone())).ToArray();
        var fused = initial.Select(t => new Parameter(t.clone())).ToArray();
        var referenceOptimizer = optim.AdamW(reference, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-2);
        var fusedOptimizer = optim.AdamW(fused, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-2);

        for (int step = 0; step < 5; step++)
        {
            for (int i = 0; i < 2; i++)
            {
                var grad = randn(initial[i].shape, generator: generator) * (i + 1);
                reference[i].grad = grad.clone();
                fused[i].grad = grad;
            }
            referenceOptimizer.step();
            FusedAdamW.Step(fusedOptimizer);
        }

        for (int i = 0; i < initial.Length; i++)
        {
            var difference = (fused[i] - reference[i]).abs().max().item<float>();
            Assert.True(difference <= 1e-6, $"parameter {i}: max|fused - TorchSharp| = {difference:E2}");
        }
        Assert.True(fused[2].eq(initial[2]).all().item<bool>(), "a parameter without a gradient is left alone");
        Assert.False(fused[0].eq(initial[0]).all().item<bool>());
        // The state is the optimizer's own, so it saves and loads in TorchSharp's format.
        var states = fusedOptimizer.state_dict().State.Cast<AdamW.State>().ToList();
        Assert.Equal([5L, 5L, 0L], states.Select(s => s.step));
    }
}
