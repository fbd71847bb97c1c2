using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using Studio.Ml.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// `StepFollowingDistillationUpdate` cases (tests/fixtures/models/distill_update): one update of the trainer, through
/// <see cref="StepFollowingUpdate.Step"/>, the function the <see cref="Distiller"/> runs. config.json holds the
/// student's T5 config, `projection_dim`, `projection_dropout`, the FLUX transformer config, the AdamW settings and
/// `grad_clip`; model.safetensors the student (DistillT5 layout) under `student.` and the transformer under
/// `transformer.`. Outputs: `loss`, `v_teacher`, `v_student`, `student_embeddings`, `grad_norm` (before clipping),
/// `latents_next`, `grad.NAME` (before clipping) and `updated.NAME` (after the step) per student parameter.
/// </summary>
public sealed class StepFollowingUpdateKind : IFixtureKind
{
    public string Name => "step-following-update";

    public bool Matches(FixtureFolder fixture) => fixture.ConfigString("_class_name") == "StepFollowingDistillationUpdate";

    /// <summary>The case computed on <paramref name="device"/> (the GPU check runs it on CUDA); outputs come back on the CPU.</summary>
    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        var config = new ModelConfig(fixture.Config, fixture.ConfigPath);
        using var student = new StudentEncoder(T5Encoder.Create(T5Config.From(config.Section("student"))),
            config.Int("projection_dim"), config.Double("projection_dropout"));
        using var transformer = new FluxTransformer(FluxTransformerConfig.From(config.Section("transformer")));
        using (var weights = Checkpoint.Open(fixture.WeightsPath))
        {
            StudentEncoder.LoadWeights(student, weights, prefix: "student.");
            ModuleLoader.Load(transformer, weights, candidates: name => ["transformer." + name],
                ignoreUnexpected: name => !name.StartsWith("transformer.", StringComparison.Ordinal));
        }
        student.to(device);
        transformer.to(device);
        using var optimizer = new FlatAdamW(AdamW(student, config.Section("optimizer")));
        var update = new StepFollowingUpdate(student, new FrozenFlux(transformer, FlowMatchSchedulerConfig.Flux), optimizer, config.Double("grad_clip"));

        var sigma = Scalar(fixture, "sigma");
        using var timestep = fixture.Input("timestep");
        if (!timestep.allclose(full_like(timestep, sigma), rtol: 0, atol: 1e-6))
            throw new InvalidDataException($"{fixture.Directory}: input 'timestep' is not sigma ({sigma}) for every sample; " +
                "the trainer calls the transformer with timestep = sigma, as FluxPipeline does");
        var schedule = new FlowMatchSchedule([sigma, Scalar(fixture, "sigma_next")], [sigma * 1000]);
        Tensor Input(string name) => fixture.Input(name).to(device);
        using var latents = fixture.Input("latents");
        CheckPositionIds(fixture, latents.shape[1]);
        using var trajectory = new TeacherTrajectory(schedule, Input("input_ids"), attentionMask: null,
            new TextConditioning(Input("teacher_embeddings"), null, Input("pooled_projections")), Input("guidance"), latents.to(device));
        using var trace = new UpdateTrace();
        var result = update.Step(trajectory, 0, update: true, trace)!;

        var outputs = new Dictionary<string, Tensor>
        {
            ["loss"] = tensor(new[] { (float)result.Loss }, device: CPU),
            ["grad_norm"] = tensor(new[] { (float)result.GradientNorm }, device: CPU),
            ["v_teacher"] = trace.TeacherVelocity!.cpu().clone(),
            ["v_student"] = cat(trace.StudentVelocities.ToArray(), 0).cpu(),
            ["student_embeddings"] = cat(trace.StudentStates.ToArray(), 0).cpu(),
            ["latents_next"] = trajectory.Latents.cpu().clone(),
        };
        foreach (var (name, parameter) in student.named_parameters())
        {
            outputs["updated." + name] = parameter.detach().cpu().clone();
            if (trace.Gradients.TryGetValue(name, out var grad)) outputs["grad." + name] = grad.cpu().clone();
        }
        return outputs;
    }

    /// <summary>
    /// The trainer's FLUX denoiser makes the position ids itself, of a square patch grid and of the text: the case's
    /// `img_ids` must be that grid for its latent tokens and its `txt_ids` zeros.
    /// </summary>
    static void CheckPositionIds(FixtureFolder fixture, long tokens)
    {
        using var imageIds = fixture.Input("img_ids");
        using var textIds = fixture.Input("txt_ids");
        var (height, width) = LatentPacking.GridOf(imageIds);
        if (height != width || height * width != tokens)
            throw new InvalidDataException($"{fixture.Directory}: input 'img_ids' is a {height}x{width} grid; the trainer's latents are a square grid of {tokens} tokens");
        if (textIds.abs().max().item<float>() != 0)
            throw new InvalidDataException($"{fixture.Directory}: input 'txt_ids' is not all zeros, as FluxPipeline's text ids are");
    }

    /// <summary>torch.optim.AdamW over the student's parameters, from the config's `optimizer` section.</summary>
    static TorchSharp.Modules.AdamW AdamW(StudentEncoder student, ModelConfig optimizer)
    {
        if (optimizer.String("name") != "AdamW") throw optimizer.Invalid("name", $"is '{optimizer.String("name")}'; the trainer uses AdamW");
        var betas = optimizer.DoubleArray("betas");
        if (betas.Length != 2) throw optimizer.Invalid("betas", $"must hold two numbers, found {betas.Length}");
        return optim.AdamW(student.parameters(), lr: optimizer.Double("lr"), beta1: betas[0], beta2: betas[1],
            eps: optimizer.Double("eps"), weight_decay: optimizer.Double("weight_decay"));
    }

    static float Scalar(FixtureFolder fixture, string name)
    {
        using var value = fixture.Input(name);
        return value.to_type(ScalarType.Float32).flatten()[0].item<float>();
    }
}
