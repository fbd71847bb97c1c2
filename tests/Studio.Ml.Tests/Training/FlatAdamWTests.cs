using Studio.Ml.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Training;

public class FlatAdamWTests
{
    public FlatAdamWTests() => TorchRuntime.Initialise();

    // One parameter large enough for the CPU pass's parallel chunks, one with a vector tail, one scalar-like.
    static Tensor[] Initial(ScalarType dtype, ulong seed = 3)
    {
        var generator = new Generator(seed);
        return [randn([70_001], generator: generator).to_type(dtype), randn([5, 7], generator: generator).to_type(dtype), randn([3], generator: generator).to_type(dtype)];
    }

    /// <summary>A loss whose gradient differs per element and per step: sum_i (w_i p_i + p_i^2 / 2) with fresh w each step.</summary>
    static void Backward(Parameter[] parameters, int step, int reach)
    {
        var generator = new Generator((ulong)(100 + step));
        var loss = zeros(1, parameters[0].dtype);
        for (int i = 0; i < reach; i++)
            loss = loss + (parameters[i] * randn(parameters[i].shape, generator: generator).to_type(parameters[i].dtype) * (i + 1)).sum()
                + parameters[i].square().sum() * 0.5;
        loss.backward();
    }

    static AdamW Optimizer(Parameter[] parameters) =>
        optim.AdamW(parameters, lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 1e-2);

    /// <summary>TorchSharp's own AdamW and clip_grad_norm_, step for step, against FlatAdamW on copies of the same parameters.</summary>
    static void CompareWithTorchSharp(ScalarType dtype, double tolerance)
    {
        var initial = Initial(dtype);
        var reference = initial.Select(t => new Parameter(t.clone())).ToArray();
        var flatParameters = initial.Select(t => new Parameter(t.clone())).ToArray();
        var referenceOptimizer = Optimizer(reference);
        using var flat = new FlatAdamW(Optimizer(flatParameters));

        for (int step = 0; step < 5; step++)
        {
            referenceOptimizer.zero_grad();
            Backward(reference, step, reach: 3);
            // Clipping to a norm well below the gradients' (about 300) so it scales every step.
            var referenceNorm = nn.utils.clip_grad_norm_(reference, 50.0);
            referenceOptimizer.step();

            flat.ZeroGrad();
            Backward(flatParameters, step, reach: 3);
            using var norm = flat.ClipGradNorm(50.0);
            flat.Step();

            Assert.True(referenceNorm > 50, $"the test's gradients must be clipped (norm {referenceNorm})");
            Assert.Equal(referenceNorm, norm.to_type(ScalarType.Float64).item<double>(), referenceNorm * tolerance);
        }
        for (int i = 0; i < initial.Length; i++)
        {
            var difference = (flatParameters[i] - reference[i]).abs().max().to_type(ScalarType.Float64).item<double>();
            Assert.True(difference <= tolerance, $"parameter {i}: max|flat - TorchSharp| = {difference:E2}");
        }
        Assert.False(flatParameters[0].eq(initial[0]).all().item<bool>());
        var states = flat.Optimizer.state_dict().State.Cast<AdamW.State>().ToList();
        Assert.Equal([5L, 5L, 5L], states.Select(s => s.step));
    }

    [Fact]
    public void TheCpuPassFollowsTorchSharpsAdamWAndClipping() => CompareWithTorchSharp(ScalarType.Float32, 1e-5);

    /// <summary>Float64 parameters take the whole-buffer tensor operations, the path every non-CPU device takes.</summary>
    [Fact]
    public void TheTensorPathFollowsTorchSharpsAdamWAndClipping() => CompareWithTorchSharp(ScalarType.Float64, 1e-12);

    [Fact]
    public void ParametersGradientsAndMomentsBecomeViewsOfTheBuffers()
    {
        var parameters = Initial(ScalarType.Float32).Select(t => new Parameter(t.clone())).ToArray();
        var copies = parameters.Select(p => p.detach().clone()).ToArray();
        using var flat = new FlatAdamW(Optimizer(parameters));
        for (int i = 0; i < parameters.Length; i++)
        {
            Assert.True(parameters[i].eq(copies[i]).all().item<bool>(), "the values are kept");
            using var grad = parameters[i].grad;
            Assert.NotNull(grad);
            Assert.Equal(parameters[i].shape, grad.shape);
        }
        // A write through the gradient buffer reaches every parameter's gradient: they share one storage.
        Backward(parameters, 0, reach: 3);
        flat.ZeroGrad();
        foreach (var p in parameters)
        {
            using var grad = p.grad;
            Assert.Equal(0, grad!.abs().max().item<float>());
        }
    }

    [Fact]
    public void AParameterNoLossReachesOnlyDecays()
    {
        var initial = Initial(ScalarType.Float32);
        var parameters = initial.Select(t => new Parameter(t.clone())).ToArray();
        using var flat = new FlatAdamW(Optimizer(parameters));
        for (int step = 0; step < 3; step++)
        {
            flat.ZeroGrad();
            Backward(parameters, step, reach: 2);
            flat.Step();
        }
        var expected = initial[2] * Math.Pow(1 - 1e-2 * 1e-2, 3);
        var difference = (parameters[2] - expected).abs().max().item<float>();
        Assert.True(difference <= 1e-6, $"max|p - p0 (1 - lr wd)^3| = {difference:E2}");
        Assert.False(parameters[2].eq(initial[2]).all().item<bool>(), "it decayed");
    }

    [Fact]
    public void SavedStateLoadsIntoTheBuffersAndTrainingContinuesExactly()
    {
        var initial = Initial(ScalarType.Float32);
        var straight = initial.Select(t => new Parameter(t.clone())).ToArray();
        using var straightFlat = new FlatAdamW(Optimizer(straight));
        var first = initial.Select(t => new Parameter(t.clone())).ToArray();
        using var firstFlat = new FlatAdamW(Optimizer(first));
        void Train(FlatAdamW flat, Parameter[] parameters, int from, int to)
        {
            for (int step = from; step < to; step++)
            {
                flat.ZeroGrad();
                Backward(parameters, step, reach: 3);
                flat.ClipGradNorm(50.0).Dispose();
                flat.Step();
            }
        }
        Train(straightFlat, straight, 0, 4);
        Train(firstFlat, first, 0, 2);

        using var saved = new MemoryStream();
        firstFlat.Optimizer.save_state_dict(new BinaryWriter(saved));
        // A fresh optimizer over fresh parameters, wrapped first, then loaded: the loads land in the buffers.
        var resumed = first.Select(p => new Parameter(p.detach().clone())).ToArray();
        using var resumedFlat = new FlatAdamW(Optimizer(resumed));
        saved.Position = 0;
        resumedFlat.Optimizer.load_state_dict(new BinaryReader(saved));
        Train(resumedFlat, resumed, 2, 4);

        for (int i = 0; i < initial.Length; i++)
            Assert.True(resumed[i].eq(straight[i]).all().item<bool>(), $"parameter {i} differs after resuming");
    }

    [Fact]
    public void RefusesToStepOnceGradientsWereSetToNone()
    {
        var linear = nn.Linear(4, 3);
        using var flat = new FlatAdamW(optim.AdamW(linear.parameters(), lr: 1e-2));
        linear.zero_grad(set_to_none: true);   // the buffer's gradients are dropped; backward then makes new ones
        linear.forward(ones(2, 4)).sum().backward();
        var error = Assert.Throws<InvalidOperationException>(flat.Step);
        Assert.Contains("no longer lies in FlatAdamW's buffers", error.Message);
    }

    [Fact]
    public void RefusesToStepOnceAModuleMoved()
    {
        var linear = nn.Linear(4, 3);
        using var flat = new FlatAdamW(optim.AdamW(linear.parameters(), lr: 1e-2));
        linear.to(ScalarType.Float64).to(ScalarType.Float32);   // a move gives the module new tensors
        flat.ZeroGrad();
        linear.forward(ones(2, 4)).sum().backward();
        Assert.Throws<InvalidOperationException>(flat.Step);
    }

    [Fact]
    public void RefusesMixedDtypes()
    {
        Parameter[] parameters = [new(ones(3)), new(ones(3, dtype: ScalarType.Float64))];
        var error = Assert.Throws<ArgumentException>(() => new FlatAdamW(Optimizer(parameters)));
        Assert.Contains("one device in one dtype", error.Message);
    }

    [Fact]
    public void GroupGradNormsAreTheNormsOfEachGroupsGradientsWhereverItsParametersLie()
    {
        // Gradients [3, 4] (norm 5), [1, 2, 2] (norm 3), [12] and [7]: groups 0, 1, 0 and none.
        Parameter[] parameters = [new(zeros(2)), new(zeros(3)), new(zeros(1)), new(zeros(1))];
        using var flat = new FlatAdamW(Optimizer(parameters));
        flat.ZeroGrad();
        var gradients = new[] { new float[] { 3, 4 }, [1, 2, 2], [12], [7] };
        var loss = parameters.Select((p, i) => (p * tensor(gradients[i])).sum()).Aggregate((a, b) => a + b);
        loss.backward();

        int[] groups = [0, 1, 0, -1];
        int GroupOf(Parameter p) => groups[Array.FindIndex(parameters, q => q.Handle == p.Handle)]; // Tensor.Equals compares values
        flat.GroupGradientsBy(GroupOf, 2);
        using var norms = flat.GroupGradNorms();
        Assert.Equal([13f, 3f], norms.data<float>().ToArray()); // sqrt(25 + 144) for the first and third together
        flat.GroupGradientsBy(_ => -1, 3);
        using var none = flat.GroupGradNorms();
        Assert.Equal([0f, 0f, 0f], none.data<float>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => flat.GroupGradientsBy(_ => 2, 2));
    }
}
