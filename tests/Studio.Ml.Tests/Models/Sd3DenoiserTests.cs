using Studio.Ml.Diffusion;
using Studio.Ml.Models.Sd3;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

public class Sd3DenoiserTests : IDisposable
{
    readonly Sd3Transformer _model;
    readonly Generator _generator = new(11);

    public Sd3DenoiserTests()
    {
        TorchRuntime.Initialise();
        var dir = TestPaths.Fixture("sd3_transformer");
        _model = new Sd3Transformer(Sd3TransformerConfig.Load(Path.Combine(dir, "config.json")));
        using var checkpoint = Checkpoint.Open(Path.Combine(dir, "model.safetensors"));
        ModuleLoader.Load(_model, checkpoint);
        _model.eval();
    }

    public void Dispose() => _model.Dispose();

    Sd3Conditioning RandomConditioning(int batch) => new(randn([batch, 5, 32], generator: _generator), randn([batch, 64], generator: _generator));

    static FlowMatchEulerScheduler Scheduler => new(FlowMatchSchedulerConfig.Sd3);

    [Fact]
    public void CombinesPredictionsAsClassifierFreeGuidance()
    {
        using var combined = ClassifierFreeGuidance.Combine(tensor(new[] { 1f, -2f }), tensor(new[] { 3f, 0f }), 2.5);
        Assert.Equal([6f, 3f], combined.data<float>().ToArray());
        Assert.False(ClassifierFreeGuidance.IsActive(1.0));
        Assert.True(ClassifierFreeGuidance.IsActive(1.5));
    }

    [Fact]
    public void OneUnguidedStepIsTheEulerStepFromPureNoise()
    {
        var denoiser = new Sd3Denoiser(_model);
        using var latents = denoiser.InitialLatents(2, 64, 48, vaeDownscaleFactor: 8, _generator);
        Assert.Equal([2L, 4, 8, 6], latents.shape);
        var positive = RandomConditioning(2);
        var schedule = Scheduler.Sd3Inference(1);
        using var result = denoiser.Denoise(latents, schedule, positive, negative: null, guidanceScale: 1.0);
        using var _ = no_grad();
        // sigmas [1, 0]: x - v(x, t = 1000).
        using var velocity = _model.forward(latents, positive.PromptEmbeds, positive.PooledPromptEmbeds, full(2, 1000f));
        Assert.True(result.allclose(latents - velocity, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void GuidedStepsRunNegativeThenPositiveAndCombineThem()
    {
        var denoiser = new Sd3Denoiser(_model);
        using var latents = denoiser.InitialLatents(1, 32, 32, vaeDownscaleFactor: 8, _generator);
        var (positive, negative) = (RandomConditioning(1), RandomConditioning(1));
        var schedule = Scheduler.Sd3Inference(3);
        using var result = denoiser.Denoise(latents, schedule, positive, negative, guidanceScale: 4.5);

        using var _ = no_grad();
        var x = latents.clone();
        for (var i = 0; i < 3; i++)
        {
            var t = full(1, schedule.Timesteps[i]);
            var unconditional = _model.forward(x, negative.PromptEmbeds, negative.PooledPromptEmbeds, t);
            var conditional = _model.forward(x, positive.PromptEmbeds, positive.PooledPromptEmbeds, t);
            var v = unconditional + 4.5 * (conditional - unconditional);
            x = x + (schedule.Sigmas[i + 1] - schedule.Sigmas[i]) * v;
        }
        Assert.True(result.allclose(x, rtol: 0, atol: 1e-5), $"max diff {(result - x).abs().max().item<float>()}");
    }

    [Fact]
    public void GuidanceWithoutANegativeConditioningIsAnError()
    {
        var denoiser = new Sd3Denoiser(_model);
        using var latents = denoiser.InitialLatents(1, 32, 32, 8, _generator);
        var e = Assert.Throws<ArgumentException>(() => denoiser.Denoise(latents, Scheduler.Sd3Inference(2), RandomConditioning(1), null, 7.0));
        Assert.Contains("guidance scale 7 > 1 needs a negative conditioning", e.Message);
        Assert.Throws<ArgumentException>(() => denoiser.InitialLatents(1, 40, 32, 8, _generator));
    }
}
