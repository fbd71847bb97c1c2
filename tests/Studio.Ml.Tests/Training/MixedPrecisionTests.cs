using Studio.Ml.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Training;

/// <summary>bf16 compute with float32 master weights: what the optimizer sees, what the modules hold, what a checkpoint saves.</summary>
public class MixedPrecisionTests
{
    public MixedPrecisionTests() => TorchRuntime.Initialise();

    /// <summary>Two linear layers and a buffer, as the models have (a buffer is not trained and is saved as it is).</summary>
    sealed class Net : nn.Module<Tensor, Tensor>
    {
        readonly Linear first = nn.Linear(8, 16), second = nn.Linear(16, 4);
        readonly Tensor scale = full(4, 0.3f);

        public Net() : base("net")
        {
            register_buffer("scale", scale);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => second.forward(nn.functional.gelu(first.forward(x))) * scale.to(x.dtype);
    }

    static Net Model(int seed = 5)
    {
        manual_seed(seed);
        return new Net();
    }

    static Tensor Loss(Net model, Tensor x) => model.forward(x.to(ScalarType.BFloat16)).to(ScalarType.Float32).square().mean();

    static Tensor Inputs() => randn([32, 8], generator: new Generator(11));

    [Fact]
    public void TheModulesComputeInBf16AndTheMastersAreTheirFloat32Values()
    {
        using var model = Model();
        var before = model.parameters().Select(p => p.detach().clone()).ToList();
        var precision = new MixedPrecision([model], ScalarType.BFloat16);

        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        Assert.Equal(before.Count, precision.Masters.Count);
        for (int i = 0; i < before.Count; i++)
        {
            Assert.Equal(ScalarType.Float32, precision.Masters[i].dtype);
            Assert.True(precision.Masters[i].Same(before[i]), $"master {i} is not the float32 parameter it copies");
        }
        Assert.Throws<ArgumentException>(() => new MixedPrecision([model], ScalarType.BFloat16)); // already bf16
        Assert.Throws<ArgumentException>(() => new MixedPrecision([Model()], ScalarType.Float32));
    }

    /// <summary>
    /// One update: the masters get the bf16 gradients (as float32, exactly), TorchSharp's AdamW on float32 copies
    /// given those gradients makes the same step, and the modules end with the masters rounded to bf16.
    /// </summary>
    [Fact]
    public void AnUpdateStepsTheMastersWithTheBf16GradientsAndRoundsThemIntoTheModules()
    {
        using var model = Model();
        var precision = new MixedPrecision([model], ScalarType.BFloat16);
        var reference = precision.Masters.Select(m => new Parameter(m.detach().clone())).ToArray();
        using var flat = new FlatAdamW(optim.AdamW(precision.Masters, lr: 1e-2, weight_decay: 0.01));
        var referenceOptimizer = optim.AdamW(reference, lr: 1e-2, weight_decay: 0.01);

        flat.ZeroGrad();
        Loss(model, Inputs()).backward();
        var gradients = model.parameters().Select(p => p.grad!.clone()).ToList();
        Assert.All(gradients, g => Assert.Equal(ScalarType.BFloat16, g.dtype));
        precision.GradientsToMasters();
        for (int i = 0; i < gradients.Count; i++)
        {
            Assert.True(precision.Masters[i].grad!.Same(gradients[i].to(ScalarType.Float32)), $"master {i}'s gradient is not the bf16 one");
            Assert.Equal(0, model.parameters().ElementAt(i).grad!.abs().max().to(ScalarType.Float32).item<float>()); // zeroed for the next backward
            reference[i].grad = gradients[i].to(ScalarType.Float32);
        }
        flat.Step();
        referenceOptimizer.step();
        precision.MastersToModules();

        var parameters = model.parameters().ToList();
        for (int i = 0; i < reference.Length; i++)
        {
            var difference = (precision.Masters[i] - reference[i]).abs().max().item<float>();
            Assert.True(difference < 1e-6, $"master {i} differs from TorchSharp's AdamW by {difference}");
            Assert.True(parameters[i].Same(precision.Masters[i].to(ScalarType.BFloat16)), $"parameter {i} is not its master rounded to bf16");
        }
    }

    /// <summary>
    /// The point of master weights: AdamW steps of 1e-4 on weights near 1 are below bf16's spacing there (2^-8), so
    /// bf16 weights updated in place never move, while the masters accumulate them and the modules follow.
    /// </summary>
    [Fact]
    public void StepsBelowBf16sPrecisionAccumulateInTheMasters()
    {
        using var model = Model();
        using (no_grad()) foreach (var p in model.parameters()) p.fill_(1.0);
        var precision = new MixedPrecision([model], ScalarType.BFloat16);
        using var flat = new FlatAdamW(optim.AdamW(precision.Masters, lr: 1e-4, weight_decay: 0));
        var pure = new Parameter(ones(16, ScalarType.BFloat16));
        var pureOptimizer = optim.AdamW([pure], lr: 1e-4, weight_decay: 0);
        for (int step = 0; step < 100; step++)
        {
            flat.ZeroGrad();
            Loss(model, Inputs()).backward();
            precision.GradientsToMasters();
            flat.Step();
            precision.MastersToModules();

            pureOptimizer.zero_grad();
            pure.sum().backward();
            pureOptimizer.step();
        }
        Assert.Equal(1.0f, pure.to(ScalarType.Float32).min().item<float>()); // pure bf16: stuck
        var moved = (precision.Masters[0] - 1).abs().max().item<float>();
        Assert.True(moved > 5e-3, $"the masters moved only {moved} in 100 steps of 1e-4");
        var rounded = (model.parameters().First().to(ScalarType.Float32) - 1).abs().max().item<float>();
        Assert.True(rounded > 0, "the bf16 weights never moved although their masters did");
    }

    [Fact]
    public void TheStateDictHoldsTheMastersAndDisposeLeavesFloat32ModulesWithTheirValues()
    {
        using var model = Model();
        var precision = new MixedPrecision([model], ScalarType.BFloat16);
        using var flat = new FlatAdamW(optim.AdamW(precision.Masters, lr: 1e-2));
        flat.ZeroGrad();
        Loss(model, Inputs()).backward();
        precision.GradientsToMasters();
        flat.Step();
        precision.MastersToModules();
        // After a step the masters hold values bf16 cannot: the state dict must carry them, not the rounded weights.
        Assert.False(precision.Masters[0].Same(precision.Masters[0].to(ScalarType.BFloat16).to(ScalarType.Float32)));

        var state = precision.StateDict(model).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(model.state_dict().Keys.Order(), state.Keys.Order());
        Assert.True(state["first.weight"].Same(precision.Masters[0]));
        Assert.True(state["second.bias"].Same(precision.Masters[3]));
        Assert.Equal(0.3f, state["scale"].to(ScalarType.Float32)[0].item<float>(), 1e-3f);

        var masters = precision.Masters.Select(m => m.detach().clone()).ToList();
        precision.Dispose();
        var parameters = model.parameters().ToList();
        for (int i = 0; i < masters.Count; i++)
        {
            Assert.Equal(ScalarType.Float32, parameters[i].dtype);
            Assert.True(parameters[i].Same(masters[i]), $"parameter {i} is not its master after Dispose");
        }
    }
}

/// <summary>Bit-for-bit comparison of tensors (TorchSharp's equal is element-wise).</summary>
internal static class ExactTensors
{
    /// <summary>The same shape, dtype and values (NaN aside).</summary>
    public static bool Same(this Tensor a, Tensor b) => a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
