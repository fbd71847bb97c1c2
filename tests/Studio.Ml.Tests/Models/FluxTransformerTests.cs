using Studio.Ml.Models.Common;
using Studio.Ml.Models.Flux;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

public class FluxTransformerTests
{
    public FluxTransformerTests() => TorchRuntime.Initialise();

    static string FixtureDir => TestPaths.Fixture("flux_transformer");

    static FluxTransformer LoadFixtureModel()
    {
        var model = new FluxTransformer(FluxTransformerConfig.Load(Path.Combine(FixtureDir, "config.json")));
        using var weights = Checkpoint.Open(Path.Combine(FixtureDir, "model.safetensors"));
        ModuleLoader.Load(model, weights);
        model.eval();
        return model;
    }

    sealed record Inputs(Tensor Hidden, Tensor Context, Tensor Pooled, Tensor Timestep, Tensor ImgIds, Tensor TxtIds, Tensor Guidance)
    {
        public static Inputs Read(ScalarType dtype = ScalarType.Float32)
        {
            using var file = SafeTensorsFile.Open(Path.Combine(FixtureDir, "inputs.safetensors"));
            Tensor R(string name) => file.Read(name).to_type(dtype);
            return new Inputs(R("hidden_states"), R("encoder_hidden_states"), R("pooled_projections"), R("timestep"),
                R("img_ids"), R("txt_ids"), R("guidance"));
        }

        public Tensor Run(FluxTransformer model, Tensor? context = null) =>
            model.forward(Hidden, context ?? Context, Pooled, Timestep, ImgIds, TxtIds, Guidance);
    }

    static Tensor ReferenceSample()
    {
        using var file = SafeTensorsFile.Open(Path.Combine(FixtureDir, "outputs.safetensors"));
        return file.Read("sample");
    }

    [Fact]
    public void MatchesDiffusersFluxTransformer2DModel() => FixtureAssert.Matches("flux_transformer");

    [Fact]
    public void GradientReachesTheTextStatesAndAgreesWithFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        using var model = LoadFixtureModel();
        model.to(ScalarType.Float64);
        var inputs = Inputs.Read(ScalarType.Float64);
        var context = inputs.Context.detach().requires_grad_(true);
        var weights = randn(ReferenceSample().shape, ScalarType.Float64, generator: new Generator(7));
        var loss = (inputs.Run(model, context) * weights).sum();
        loss.backward();
        var grad = context.grad!;
        Assert.True(grad.abs().max().item<double>() > 1e-6, "no gradient reached encoder_hidden_states");

        // Directional derivative along a random direction, by central differences. The rotary step computes in float32
        // even for float64 inputs (as diffusers does), so the step is large enough that its rounding stays negligible.
        var direction = randn(context.shape, ScalarType.Float64, generator: new Generator(8));
        const double eps = 1e-3;
        using var noGrad = no_grad();
        var plus = (inputs.Run(model, context + eps * direction) * weights).sum().item<double>();
        var minus = (inputs.Run(model, context - eps * direction) * weights).sum().item<double>();
        var numeric = (plus - minus) / (2 * eps);
        var analytic = (grad * direction).sum().item<double>();
        Console.WriteLine($"flux_transformer d(loss)/d(context) along a direction: finite difference {numeric:G8}, autograd {analytic:G8}");
        Assert.True(Math.Abs(numeric - analytic) <= 1e-3 * Math.Max(1, Math.Abs(numeric)), $"finite difference {numeric} vs autograd {analytic}");
    }

    [Fact]
    public void GradientCheckpointingGivesTheSameOutputAndGradients()
    {
        using var scope = NewDisposeScope();
        using var model = LoadFixtureModel();
        var inputs = Inputs.Read();
        var weights = randn(ReferenceSample().shape, generator: new Generator(7));

        (Tensor Sample, Tensor ContextGrad, Tensor ParamGrad) Run(bool checkpointing)
        {
            model.GradientCheckpointing = checkpointing;
            model.zero_grad();
            var context = inputs.Context.detach().requires_grad_(true);
            var sample = inputs.Run(model, context);
            (sample * weights).sum().backward();
            var paramGrad = model.named_parameters().First(p => p.name == "transformer_blocks.0.attn.to_q.weight").parameter.grad!.clone();
            return (sample.detach(), context.grad!.clone(), paramGrad);
        }

        var plain = Run(false);
        var checkpointed = Run(true);
        Assert.True(plain.Sample.equal(checkpointed.Sample).all().item<bool>(), "checkpointing changed the output");
        Assert.True(plain.ContextGrad.allclose(checkpointed.ContextGrad, rtol: 1e-5, atol: 1e-6), "checkpointing changed the text-state gradient");
        Assert.True(plain.ParamGrad.allclose(checkpointed.ParamGrad, rtol: 1e-5, atol: 1e-6), "checkpointing changed the parameter gradient");
        Assert.True(plain.ContextGrad.abs().max().item<float>() > 1e-6);
    }

    [Fact]
    public void Bfloat16ComputeStaysCloseToTheFloat32Reference()
    {
        using var scope = NewDisposeScope();
        using var model = LoadFixtureModel();
        model.to(ScalarType.BFloat16);
        var inputs = Inputs.Read(ScalarType.BFloat16);
        using var noGrad = no_grad();
        var sample = inputs.Run(model);
        Assert.Equal(ScalarType.BFloat16, sample.dtype);
        var reference = ReferenceSample();
        var maxDiff = (sample.to_type(ScalarType.Float32) - reference).abs().max().item<float>();
        var maxRef = reference.abs().max().item<float>();
        Console.WriteLine($"flux_transformer bf16: max|diff| {maxDiff:E3}, max|ref| {maxRef:G4}");
        Assert.True(maxDiff <= 0.05 * Math.Max(1, maxRef), $"bf16 max|diff| {maxDiff} vs max|ref| {maxRef}");
    }
}
