using System.Diagnostics;
using System.Text.Json.Nodes;
using Studio.Ml.Diffusion;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using Studio.Ml.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Toy;

/// <summary>What `studio toy pretrain` trains; the defaults made the shipped teacher.</summary>
public sealed record ToyPretrainingOptions
{
    public int Seed { get; init; } = 1;
    public int BatchSize { get; init; } = 32;
    /// <summary>Stage A: autoencoder updates, learning rate (cosine after a warm-up) and KL weight.</summary>
    public int VaeSteps { get; init; } = 3000;
    public double VaeLearningRate { get; init; } = 2e-3;
    public double KlWeight { get; init; } = 1e-4;
    /// <summary>
    /// Extra weight of ink pixels (objects, letters, plates: <see cref="ToyRenderer.InkMask"/>) in stage A's L1: a pixel
    /// counts 1 + InkWeight times. Ink is a few percent of a render, so a plain L1 (0) is spent on backgrounds.
    /// </summary>
    public double VaeInkWeight { get; init; } = 20;
    /// <summary>
    /// Extra weight of ink in stage B's flow loss: an image token counts 1 + FluxInkWeight x (its share of ink pixels,
    /// <see cref="ToyPretraining.InkShares"/>) times, normalised by the batch's mean weight. A shape differs from a blob
    /// of its colour in a few percent of a latent, so a plain MSE (0) barely rewards drawing the shape the prompt names.
    /// </summary>
    public double FluxInkWeight { get; init; }
    /// <summary>Stage B: text-to-image updates and learning rate.</summary>
    public int FluxSteps { get; init; } = 9000;
    public double FluxLearningRate { get; init; } = 1e-3;
    /// <summary>
    /// Stage B: the share of a batch whose prompt is replaced by the empty prompt, so the model also learns the
    /// unconditional velocity that true classifier-free guidance (`studio eval --true-cfg`) steers away from. 0: off.
    /// </summary>
    public double PromptDropout { get; init; } = 0.1;
    /// <summary>
    /// Stage B: the share of a batch trained at sigma 1 (pure noise), where a generation's first step starts. The
    /// logit-normal sigmas reach above 0.97 once in 700 draws, and below that the latents' background still shows
    /// through the noise, so a teacher trained on them alone reads the background from the noise of a generation's
    /// first step rather than from its prompt. 0: logit-normal only.
    /// </summary>
    public double PureNoise { get; init; }
    /// <summary>
    /// Stage B: the share of a batch whose CLIP prompt (the pooled vector, FLUX's global conditioning) is replaced by the
    /// empty prompt's while T5 keeps the prompt, so the transformer has to read the prompt through T5's states in its
    /// joint attention. Without it the toy teacher learns the easy path: its pooled vector alone explains nearly all of
    /// what the prompt tells it, and its T5 path, the one the students replace, almost nothing. 0: off.
    /// </summary>
    public double PooledDropout { get; init; }
    /// <summary>
    /// A toy teacher folder (FluxPipeline layout, the same architecture) to continue: stage A is skipped (its
    /// autoencoder is used as it is) and stage B starts from its transformer and text encoders. Null: from scratch.
    /// </summary>
    public string? From { get; init; }
    /// <summary>
    /// A toy teacher folder whose autoencoder stage B trains on: stage A is skipped, and the transformer and text
    /// encoders start from random initialisation in the sizes of <see cref="Architecture"/>, which may differ from that
    /// teacher's (its latent size may not). For trying another transformer on an autoencoder already made. Null: none.
    /// </summary>
    public string? VaeFrom { get; init; }
    /// <summary>Train-split prompts whose latents and token ids are computed once for stage B.</summary>
    public int PoolSize { get; init; } = 8192;
    /// <summary>Held-out prompts of the fixed evaluation losses.</summary>
    public int EvalSize { get; init; } = 64;
    public int CheckpointEvery { get; init; } = 250;
    public int LogEvery { get; init; } = 10;
    public ToyTeacherArchitecture Architecture { get; init; } = ToyTeacherArchitecture.Default;
    /// <summary>
    /// Both stages' compute dtype: float32, or bfloat16 with float32 master weights (<see cref="MixedPrecision"/>),
    /// faster on a GPU and on CPUs with AVX-512 BF16; checkpoints and the teacher are written from the float32 masters,
    /// and the autoencoder's latent statistics and the final held-out losses are measured in float32.
    /// </summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;
}

/// <summary>
/// The losses of a pretraining run. Eval losses are on fixed held-out prompts with fixed noise: the autoencoder's
/// mean absolute reconstruction error in [-1, 1] pixel units, and the flow-matching MSE at fixed sigmas.
/// </summary>
public sealed record ToyPretrainingResult(
    double VaeEvalBefore, double VaeEvalAfter, double VaeTrainLoss,
    double ShiftFactor, double ScalingFactor,
    double FluxEvalBefore, double FluxEvalAfter, double FluxTrainLoss,
    double VaeSeconds, double FluxSeconds);

/// <summary>
/// Trains the toy teacher from scratch (docs/METHOD.md, "The toy world"): stage A fits the AutoencoderKL to renders
/// of train-split scenes and sets FLUX-style shift/scaling factors from the latent statistics; stage B trains the FLUX
/// transformer with the T5 and CLIP text encoders jointly on the rectified-flow objective
/// (x_t = (1 - sigma) x0 + sigma e, target velocity e - x0). Each stage checkpoints atomically into the work folder
/// and resumes from it; the result is a diffusers-layout FluxPipeline folder in bf16. Modules are built on the CPU (same
/// initial weights everywhere) and moved to <paramref name="device"/> (default CPU); data and noise are drawn on the CPU
/// from the seeded generators and then moved, so a seed gives the same batches on every device.
/// </summary>
public sealed class ToyPretraining(ToyPretrainingOptions options, string workFolder, Action<string> log, Device? device = null)
{
    const string StageAFolder = "stage-a", StageBFolder = "stage-b", TrainedVaeFolder = "vae", PoolFile = "pool.safetensors";
    const string WeightsFile = "weights.safetensors";
    static readonly double[] EvalSigmas = [0.2, 0.5, 0.8];

    readonly ToyPretrainingOptions _o = options;
    readonly Device _device = device ?? CPU;
    readonly ToyTeacherArchitecture _a = options.Architecture;

    sealed record StageState(int Step, double Seconds, double LastLoss, double EvalBefore);

    /// <summary>Runs (or resumes) both stages and writes the teacher folder to <paramref name="outputFolder"/>.</summary>
    public ToyPretrainingResult Run(string outputFolder, bool resume, string command)
    {
        PrepareWorkFolder(resume);
        var t5Tokenizer = TextTokenizer.BuiltIn("t5");
        var clipTokenizer = TextTokenizer.BuiltIn("clip");

        ToyPretrainingResult vaeResult;
        using var vae = (_o.From ?? _o.VaeFrom) is { } from ? FromTeacher(from, out vaeResult) : TrainAutoencoder(out vaeResult);
        var flux = TrainTextToImage(vae, t5Tokenizer, clipTokenizer, out var fluxResult);
        var result = vaeResult with
        {
            FluxEvalBefore = fluxResult.EvalBefore, FluxEvalAfter = fluxResult.EvalAfter,
            FluxTrainLoss = fluxResult.TrainLoss, FluxSeconds = fluxResult.Seconds,
        };
        using (flux.Transformer) using (flux.T5) using (flux.Clip)
            ToyTeacherFolder.Write(outputFolder, _a, vae, flux.Transformer, flux.T5, flux.Clip, t5Tokenizer, clipTokenizer,
                ToyTeacherFolder.Readme(command, _o, result));
        log($"wrote the teacher to {outputFolder}");
        return result;
    }

    /// <summary>
    /// Runs (or resumes) stage A alone, for measuring an autoencoder before training a transformer on it
    /// (`studio toy ceiling --vae`); returns its result and the folder of the trained autoencoder (float32, diffusers
    /// layout, with the measured shift/scaling factors) inside the work folder. `Run` with the same work folder and
    /// resume continues with stage B from it.
    /// </summary>
    public (ToyPretrainingResult Result, string VaeFolder) RunAutoencoder(bool resume)
    {
        PrepareWorkFolder(resume);
        using var vae = TrainAutoencoder(out var result);
        return (result, CheckpointFolder.Existing(Path.Combine(workFolder, TrainedVaeFolder))!);
    }

    void PrepareWorkFolder(bool resume)
    {
        if (_o.From is not null && _o.VaeFrom is not null)
            throw new ArgumentException("--from continues a teacher's transformer and --vae-from trains a new one on a teacher's autoencoder: pass one of them");
        if (!resume && Directory.Exists(workFolder) && Directory.EnumerateFileSystemEntries(workFolder).Any())
            throw new IOException($"{workFolder}: the work folder is not empty; pass --resume to continue that run, or delete it");
        // Said, so a mistyped folder is seen at once rather than hours into a run started over.
        if (resume && !(Directory.Exists(workFolder) && Directory.EnumerateFileSystemEntries(workFolder).Any()))
            log($"--resume: {workFolder} holds no run yet, so this one starts from the beginning");
        Directory.CreateDirectory(workFolder);
        log($"latent {ToyTeacherArchitecture.LatentChannels}x{_a.LatentSize}x{_a.LatentSize} for a {ToyRenderer.Size}x{ToyRenderer.Size} render: {_a.ImageTokens} image tokens");
    }

    /// <summary>The autoencoder of the teacher <see cref="ToyPretrainingOptions.From"/> continues or <see cref="ToyPretrainingOptions.VaeFrom"/> names (stage A skipped), in float32.</summary>
    AutoencoderKL FromTeacher(string folder, out ToyPretrainingResult result)
    {
        var vae = AutoencoderKL.FromPretrained(Path.Combine(folder, "vae"));
        if (vae.Config.LatentChannels != ToyTeacherArchitecture.LatentChannels || vae.Config.BlockOutChannels.Length != _a.VaeBlockOutChannels.Length)
            throw new InvalidDataException($"{folder}: its autoencoder is not the architecture's ({_a.LatentSize}x{_a.LatentSize} latent); pass the --architecture it was made with");
        vae.to(_device);
        vae.eval();
        log($"stage A: skipped, the autoencoder of {folder}");
        result = new(double.NaN, double.NaN, double.NaN, vae.Config.ShiftFactor, vae.Config.ScalingFactor, 0, 0, 0, 0, 0);
        return vae;
    }

    /// <summary>Copies <paramref name="source"/>'s weights into <paramref name="target"/>, which must have the same names and shapes.</summary>
    static void CopyWeights(nn.Module source, nn.Module target, string what)
    {
        using var _ = no_grad();
        var weights = source.state_dict();
        foreach (var (name, tensor) in target.state_dict())
        {
            if (!weights.TryGetValue(name, out var from) || !from.shape.SequenceEqual(tensor.shape))
                throw new InvalidDataException($"{what}: no {name} of shape [{string.Join(", ", tensor.shape)}] there: not the architecture's; pass the --architecture it was made with");
            tensor.copy_(from);
        }
    }

    // ---- Stage A: the autoencoder ----

    AutoencoderKL TrainAutoencoder(out ToyPretrainingResult result)
    {
        var trained = Path.Combine(workFolder, TrainedVaeFolder);
        using var evalImages = RenderBatch(ToyPrompts.HeldOut(ToyCriteria.All, _o.EvalSize), _device);
        if (CheckpointFolder.Existing(trained) is { } trainedFolder)
        {
            CheckpointFolder.Verify(trainedFolder, CheckpointFolder.StateFile);
            var done = AutoencoderKL.FromPretrained(trainedFolder);
            done.to(_device);
            var state = CheckpointFolder.ReadState<StageState>(trainedFolder);
            log($"stage A: already done ({trainedFolder})");
            result = new(state.EvalBefore, ReconstructionError(done, evalImages), state.LastLoss, done.Config.ShiftFactor, done.Config.ScalingFactor, 0, 0, 0, state.Seconds, 0);
            return done;
        }

        manual_seed(DeterministicRandom.Seed(_o.Seed, "vae-init"));
        var vae = new AutoencoderKL(AutoencoderKLConfig.Parse(ToyTeacherConfigs.AsModelConfig(ToyTeacherConfigs.Vae(_a), "vae config")));
        InitialiseNorms(vae);
        vae.to(_device);
        var checkpoint = Path.Combine(workFolder, StageAFolder);
        var found = LoadWeights(checkpoint, [("vae.", vae)]);
        var precision = MixedPrecision.For(_o.DType, vae);
        var optimizer = optim.AdamW(precision?.Masters.ToList() ?? vae.parameters(), lr: _o.VaeLearningRate, weight_decay: 0.0);
        using var flat = new FlatAdamW(optimizer);
        var state0 = found is null ? new StageState(0, 0, double.NaN, ReconstructionError(vae, evalImages)) : LoadProgress(found, optimizer);
        log($"stage A: autoencoder {Parameters(vae)} parameters, computing in {_o.DType.ToString().ToLowerInvariant()}; eval L1 {state0.EvalBefore:0.0000} at step {state0.Step}");

        var clock = Stopwatch.StartNew();
        var lastLoss = state0.LastLoss;
        vae.train();
        for (int step = state0.Step; step < _o.VaeSteps; step++)
        {
            using var scope = NewDisposeScope();
            SetLearningRate(optimizer, LearningRateSchedule.At("cosine", _o.VaeLearningRate, step, _o.VaeSteps, Math.Min(20, _o.VaeSteps / 10)));
            var random = new Random((int)DeterministicRandom.Seed(_o.Seed, "vae-batch", step));
            var prompts = Enumerable.Range(0, _o.BatchSize).Select(_ => TrainPrompt(random)).ToList();
            var images = RenderBatch(prompts, _device);
            using var generator = new Generator((ulong)DeterministicRandom.Seed(_o.Seed, "vae-noise", step));
            using var posterior = vae.Encode(images);
            var reconstruction = vae.Decode(posterior.Sample(generator)).to(ScalarType.Float32);
            var error = (reconstruction - images).abs();
            var l1 = error.mean();
            // Ink-weighted L1, normalised by the mean weight so the learning rate means the same for every weight.
            var weighted = l1;
            if (_o.VaeInkWeight > 0)
            {
                var w = InkWeights(prompts, _o.VaeInkWeight, _device);
                weighted = (error * w).mean() / w.mean();
            }
            // KL to N(0, 1) per latent element: keeps the latents bounded; the scaling factor normalises them later.
            var (mean, logVar) = (posterior.Mean.to(ScalarType.Float32), posterior.LogVar.to(ScalarType.Float32));
            var kl = (mean.square() + logVar.exp() - 1 - logVar).mean() * 0.5;
            var loss = weighted + kl * _o.KlWeight;
            flat.ZeroGrad();
            loss.backward();
            precision?.GradientsToMasters();
            flat.ClipGradNorm(1.0);
            flat.Step();
            precision?.MastersToModules();
            lastLoss = l1.item<float>();
            if (!double.IsFinite(lastLoss)) throw new InvalidOperationException($"stage A diverged at step {step + 1}: L1 {lastLoss}, KL {kl.item<float>()}");
            var seconds = state0.Seconds + clock.Elapsed.TotalSeconds;
            if ((step + 1) % _o.LogEvery == 0 || step == state0.Step)
                log($"stage A step {step + 1}/{_o.VaeSteps} L1 {lastLoss:0.0000} weighted {weighted.item<float>():0.0000} KL {kl.item<float>():0.000} ({seconds:0}s)");
            if ((step + 1) % _o.CheckpointEvery == 0 && step + 1 < _o.VaeSteps)
                SaveStage(checkpoint, [("vae.", vae)], optimizer, new StageState(step + 1, seconds, lastLoss, state0.EvalBefore), precision);
        }
        precision?.Dispose(); // float32 with the masters' values from here on
        vae.eval();
        var totalSeconds = state0.Seconds + clock.Elapsed.TotalSeconds;

        var (shift, scale) = LatentStatistics(vae);
        var finished = new AutoencoderKL(AutoencoderKLConfig.Parse(ToyTeacherConfigs.AsModelConfig(ToyTeacherConfigs.Vae(_a, scale, shift), "vae config")));
        finished.to(_device);
        CopyWeights(vae, finished, "stage A's autoencoder");
        vae.Dispose();
        finished.eval();
        var evalAfter = ReconstructionError(finished, evalImages);
        CheckpointFolder.Write(trained, folder =>
        {
            ToyTeacherFolder.WriteComponent(folder, ToyTeacherConfigs.Vae(_a, scale, shift), "diffusion_pytorch_model.safetensors", finished, ScalarType.Float32);
            CheckpointFolder.SaveState(folder, new StageState(_o.VaeSteps, totalSeconds, lastLoss, state0.EvalBefore));
        });
        log($"stage A done in {totalSeconds:0}s: eval L1 {state0.EvalBefore:0.0000} -> {evalAfter:0.0000}, shift_factor {shift:0.0000}, scaling_factor {scale:0.0000}");
        result = new(state0.EvalBefore, evalAfter, lastLoss, shift, scale, 0, 0, 0, totalSeconds, 0);
        return finished;
    }

    /// <summary>FLUX's convention: (z - shift) * scale has zero mean and unit variance over posterior samples of train renders.</summary>
    (double Shift, double Scale) LatentStatistics(AutoencoderKL vae)
    {
        using var _ = no_grad();
        var random = new Random((int)DeterministicRandom.Seed(_o.Seed, "latent-statistics"));
        using var generator = new Generator((ulong)DeterministicRandom.Seed(_o.Seed, "latent-statistics"));
        var samples = new List<Tensor>();
        for (int i = 0; i < 8; i++)
        {
            using var images = RenderBatch(Enumerable.Range(0, _o.BatchSize).Select(_ => TrainPrompt(random)).ToList(), _device);
            using var posterior = vae.Encode(images);
            samples.Add(posterior.Sample(generator));
        }
        using var all = cat(samples, 0);
        samples.ForEach(s => s.Dispose());
        var (mean, std) = (all.mean().item<float>(), all.std().item<float>());
        if (!double.IsFinite(mean) || !(std > 0) || !double.IsFinite(std))
            throw new InvalidOperationException($"the trained autoencoder's latents have mean {mean} and std {std}: no shift/scaling factor fits");
        return (mean, 1.0 / std);
    }

    /// <summary>Mean absolute error of reconstructions from the posterior mean, in [-1, 1] pixel units.</summary>
    static double ReconstructionError(AutoencoderKL vae, Tensor images)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var posterior = vae.Encode(images);
        return (vae.Decode(posterior.Mean) - images).abs().mean().item<float>();
    }

    // ---- Stage B: the text-to-image model ----

    sealed record TextToImage(FluxTransformer Transformer, T5Encoder T5, ClipTextEncoder Clip);
    sealed record StageBResult(double EvalBefore, double EvalAfter, double TrainLoss, double Seconds);

    TextToImage TrainTextToImage(AutoencoderKL vae, TextTokenizer t5Tokenizer, TextTokenizer clipTokenizer, out StageBResult result)
    {
        var (latents, t5Ids, clipIds) = LoadOrBuildPool(vae, t5Tokenizer, clipTokenizer);
        using var _pool = latents; using var _t5 = t5Ids; using var _clip = clipIds;
        using var inkShares = _o.FluxInkWeight > 0 ? InkShares(PoolPrompts(), _a.LatentSize) : null;
        var evalPrompts = ToyPrompts.HeldOut(ToyCriteria.All, _o.EvalSize);
        var (evalLatents, evalT5, evalClip) = Encode(vae, evalPrompts, t5Tokenizer, clipTokenizer);
        using var _e1 = evalLatents; using var _e2 = evalT5; using var _e3 = evalClip;

        manual_seed(DeterministicRandom.Seed(_o.Seed, "flux-init"));
        var transformer = new FluxTransformer(FluxTransformerConfig.From(ToyTeacherConfigs.AsModelConfig(ToyTeacherConfigs.Transformer(_a), "transformer config")));
        var t5 = T5Encoder.Create(T5Config.From(ToyTeacherConfigs.AsModelConfig(ToyTeacherConfigs.T5(_a), "text_encoder_2 config")));
        t5.InitialiseLikeTransformers();
        var clip = new ClipTextEncoder(ClipTextConfig.From(ToyTeacherConfigs.AsModelConfig(ToyTeacherConfigs.Clip(_a), "text_encoder config")));
        InitialiseNorms(transformer);
        InitialiseNorms(clip);
        if (_o.From is { } from)
        {
            var transformerFolder = Path.Combine(from, "transformer");
            using (var trained = FluxTransformer.FromPretrained(transformerFolder)) CopyWeights(trained, transformer, transformerFolder);
            using (var trained = T5Encoder.Load(Path.Combine(from, "text_encoder_2")).Model) CopyWeights(trained, t5, Path.Combine(from, "text_encoder_2"));
            using (var trained = ClipTextEncoder.Load(Path.Combine(from, "text_encoder")).Model) CopyWeights(trained, clip, Path.Combine(from, "text_encoder"));
        }
        foreach (var module in new nn.Module[] { transformer, t5, clip }) module.to(_device);
        var model = new TextToImage(transformer, t5, clip);
        (string, nn.Module)[] parts = [("transformer.", transformer), ("text_encoder_2.", t5), ("text_encoder.", clip)];
        var checkpoint = Path.Combine(workFolder, StageBFolder);
        var found = LoadWeights(checkpoint, parts);
        // In bf16, the modules compute in it and the optimizer updates float32 masters (checkpoints as a float32 run's).
        var precision = MixedPrecision.For(_o.DType, transformer, t5, clip);
        var parameters = precision?.Masters.ToList() ?? parts.SelectMany(p => p.Item2.parameters()).ToList();
        var optimizer = optim.AdamW(parameters, lr: _o.FluxLearningRate, weight_decay: 0.01);
        using var flat = new FlatAdamW(optimizer);
        var state0 = found is null ? new StageState(0, 0, double.NaN, FlowEvalLoss(model, evalLatents, evalT5, evalClip)) : LoadProgress(found, optimizer);
        log($"stage B: transformer {Parameters(transformer)}, T5 {Parameters(t5)}, CLIP {Parameters(clip)} parameters, computing in {_o.DType.ToString().ToLowerInvariant()}; eval MSE {state0.EvalBefore:0.0000} at step {state0.Step}");

        using var imgIds = LatentPacking.ImageIds(_a.LatentSize / 2, _a.LatentSize / 2, device: _device);
        using var txtIds = LatentPacking.TextIds(ToyTeacherArchitecture.T5TextLength, device: _device);
        var (emptyT5, emptyT5Mask) = t5Tokenizer.EncodeBatch([""], ToyTeacherArchitecture.T5TextLength);
        var (emptyClip, emptyClipMask) = clipTokenizer.EncodeBatch([""], ToyTeacherArchitecture.ClipTextLength);
        using var _emptyT5 = emptyT5; using var _emptyClip = emptyClip;
        emptyT5Mask.Dispose(); emptyClipMask.Dispose();
        var mu = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.From(ToyTeacherConfigs.AsModelConfig(ToyTeacherConfigs.Scheduler(_a), "scheduler config")))
            .Mu(_a.ImageTokens);
        var clock = Stopwatch.StartNew();
        var lastLoss = state0.LastLoss;
        var recent = new Queue<double>();
        foreach (var (_, m) in parts) m.train();
        for (int step = state0.Step; step < _o.FluxSteps; step++)
        {
            using var scope = NewDisposeScope();
            SetLearningRate(optimizer, LearningRateSchedule.At("cosine", _o.FluxLearningRate, step, _o.FluxSteps, Math.Min(50, _o.FluxSteps / 10)));
            using var generator = new Generator((ulong)DeterministicRandom.Seed(_o.Seed, "flux-batch", step));
            var index = randint(latents.shape[0], [_o.BatchSize], device: CPU, generator: generator);
            var x0 = latents.index_select(0, index).to(_device);
            var noise = randn(x0.shape, device: CPU, generator: generator).to(_device);
            // Logit-normal sigmas (SD3 / FLUX training), time-shifted by the scheduler's mu at the teacher's image tokens.
            var sigma = ShiftSigma(randn([_o.BatchSize], device: CPU, generator: generator).sigmoid(), mu);
            var guidance = (rand([_o.BatchSize], device: CPU, generator: generator) * 4 + 1).to(_device);
            var (t5Batch, clipBatch) = (t5Ids.index_select(0, index), clipIds.index_select(0, index));
            if (_o.PromptDropout > 0)
            {
                // Drawn after everything else, so a run without dropout sees the batches it always did.
                var dropped = (rand([_o.BatchSize], device: CPU, generator: generator) < _o.PromptDropout).view(-1, 1);
                (t5Batch, clipBatch) = (where(dropped, emptyT5, t5Batch), where(dropped, emptyClip, clipBatch));
            }
            if (_o.PureNoise > 0) // drawn last too
                sigma = sigma.masked_fill(rand([_o.BatchSize], device: CPU, generator: generator) < _o.PureNoise, 1.0);
            if (_o.PooledDropout > 0) // and this
                clipBatch = where((rand([_o.BatchSize], device: CPU, generator: generator) < _o.PooledDropout).view(-1, 1), emptyClip, clipBatch);
            var weights = inkShares is null ? null : (1 + _o.FluxInkWeight * inkShares.index_select(0, index)).to(_device);
            var loss = FlowLoss(model, x0, noise, sigma.to(_device), guidance, t5Batch.to(_device), clipBatch.to(_device), imgIds, txtIds, weights);
            flat.ZeroGrad();
            loss.backward();
            precision?.GradientsToMasters();
            flat.ClipGradNorm(1.0);
            flat.Step();
            precision?.MastersToModules();
            lastLoss = loss.item<float>();
            if (!double.IsFinite(lastLoss)) throw new InvalidOperationException($"stage B diverged at step {step + 1}: MSE {lastLoss}");
            recent.Enqueue(lastLoss);
            if (recent.Count > 50) recent.Dequeue();
            var seconds = state0.Seconds + clock.Elapsed.TotalSeconds;
            if ((step + 1) % _o.LogEvery == 0 || step == state0.Step)
                log($"stage B step {step + 1}/{_o.FluxSteps} MSE {lastLoss:0.0000} (mean of last {recent.Count}: {recent.Average():0.0000}) ({seconds:0}s)");
            if ((step + 1) % _o.CheckpointEvery == 0 && step + 1 < _o.FluxSteps)
            {
                var eval = FlowEvalLoss(model, evalLatents, evalT5, evalClip);
                foreach (var (_, m) in parts) m.train();
                log($"stage B step {step + 1}: held-out eval MSE {eval:0.0000}");
                SaveStage(checkpoint, parts, optimizer, new StageState(step + 1, seconds, lastLoss, state0.EvalBefore), precision);
            }
        }
        precision?.Dispose(); // float32 modules with the masters' values: the final loss and the teacher are a float32 run's
        foreach (var (_, m) in parts) m.eval();
        var evalAfter = FlowEvalLoss(model, evalLatents, evalT5, evalClip);
        var total = state0.Seconds + clock.Elapsed.TotalSeconds;
        var trainLoss = recent.Count > 0 ? recent.Average() : lastLoss;
        log($"stage B done in {total:0}s: eval MSE {state0.EvalBefore:0.0000} -> {evalAfter:0.0000}, train MSE (last {recent.Count}) {trainLoss:0.0000}");
        result = new StageBResult(state0.EvalBefore, evalAfter, trainLoss, total);
        return model;
    }

    /// <summary>FluxPipeline's time shift: e^mu / (e^mu + (1/sigma - 1)).</summary>
    static Tensor ShiftSigma(Tensor sigma, double mu) => Math.Exp(mu) / (Math.Exp(mu) + (1 / sigma - 1));

    /// <summary>
    /// MSE between the predicted velocity and e - x0 at x_t = (1 - sigma) x0 + sigma e (packed latents); with
    /// <paramref name="tokenWeights"/> ([B, tokens]), each token's squared error weighted, over the weights' sum.
    /// </summary>
    static Tensor FlowLoss(TextToImage m, Tensor x0, Tensor noise, Tensor sigma, Tensor guidance, Tensor t5Ids, Tensor clipIds, Tensor imgIds, Tensor txtIds,
        Tensor? tokenWeights = null)
    {
        var context = m.T5.forward(t5Ids);
        using var clipOut = m.Clip.forward(clipIds);
        var errors = TokenFlowErrors(m.Transformer, x0, noise, sigma, context, clipOut.PoolerOutput, guidance, imgIds, txtIds);
        return tokenWeights is null ? errors.mean() : (errors * tokenWeights).sum() / tokenWeights.sum();
    }

    /// <summary>
    /// The rectified-flow objective per image: the mean squared error (over tokens and channels) between the velocity
    /// the transformer predicts at x_t = (1 - sigma) x0 + sigma e and its target e - x0. <paramref name="x0"/> and
    /// <paramref name="noise"/> are packed scaled latents (B, tokens, channels); <paramref name="context"/> the T5-slot
    /// states and <paramref name="pooled"/> CLIP's pooled output. Stage B trains on its mean; `studio toy ceiling`
    /// reports it per category and sigma.
    /// </summary>
    public static Tensor FlowErrors(FluxTransformer transformer, Tensor x0, Tensor noise, Tensor sigma, Tensor context, Tensor pooled,
        Tensor? guidance, Tensor imgIds, Tensor txtIds) =>
        TokenFlowErrors(transformer, x0, noise, sigma, context, pooled, guidance, imgIds, txtIds).mean([1]);

    /// <summary>
    /// <see cref="FlowErrors"/> per image token: [B, tokens], the mean over each token's channels. x_t, sigma and
    /// guidance go to the transformer in the dtype of <paramref name="context"/> (the text encoders', bf16 in a mixed-precision
    /// run, as diffusers passes a bf16 pipeline's timesteps); the target and the error stay in <paramref name="x0"/>'s float32.
    /// </summary>
    static Tensor TokenFlowErrors(FluxTransformer transformer, Tensor x0, Tensor noise, Tensor sigma, Tensor context, Tensor pooled,
        Tensor? guidance, Tensor imgIds, Tensor txtIds)
    {
        var s = sigma.view(-1, 1, 1);
        var xt = (1 - s) * x0 + s * noise;
        var dtype = context.dtype;
        var velocity = transformer.forward(xt.to(dtype), context, pooled, sigma.to(dtype), imgIds, txtIds, guidance?.to(dtype)).to(x0.dtype);
        return (velocity - (noise - x0)).square().mean([2]);
    }

    /// <summary>
    /// The flow loss on fixed held-out prompts (CPU tensors, moved to the device here), each at every sigma of
    /// <see cref="EvalSigmas"/>, with fixed noise and guidance 3.5.
    /// </summary>
    double FlowEvalLoss(TextToImage m, Tensor latents, Tensor t5Ids, Tensor clipIds)
    {
        foreach (var module in new nn.Module[] { m.Transformer, m.T5, m.Clip }) module.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)DeterministicRandom.Seed(_o.Seed, "flux-eval"));
        var imgIds = LatentPacking.ImageIds(_a.LatentSize / 2, _a.LatentSize / 2, device: _device);
        var txtIds = LatentPacking.TextIds(ToyTeacherArchitecture.T5TextLength, device: _device);
        var (x0, t5, clip) = (latents.to(_device), t5Ids.to(_device), clipIds.to(_device));
        var n = latents.shape[0];
        var total = 0.0;
        foreach (var sigmaValue in EvalSigmas)
        {
            var noise = randn(latents.shape, device: CPU, generator: generator).to(_device);
            var sigma = full([n], sigmaValue, device: _device);
            total += FlowLoss(m, x0, noise, sigma, full([n], 3.5, device: _device), t5, clip, imgIds, txtIds).item<float>();
        }
        return total / EvalSigmas.Length;
    }

    /// <summary>Stage B's data: packed scaled latents (posterior means) and both token id sets of train-split prompts, cached in the work folder.</summary>
    (Tensor Latents, Tensor T5Ids, Tensor ClipIds) LoadOrBuildPool(AutoencoderKL vae, TextTokenizer t5Tokenizer, TextTokenizer clipTokenizer)
    {
        var path = Path.Combine(workFolder, PoolFile);
        if (File.Exists(path))
        {
            using var file = SafeTensorsFile.Open(path);
            return (file.Read("latents"), file.Read("t5_ids"), file.Read("clip_ids"));
        }
        var clock = Stopwatch.StartNew();
        var prompts = PoolPrompts();
        var parts = new List<(Tensor, Tensor, Tensor)>();
        for (int i = 0; i < prompts.Count; i += 256)
            parts.Add(Encode(vae, prompts.Skip(i).Take(256).ToList(), t5Tokenizer, clipTokenizer));
        var latents = cat(parts.Select(p => p.Item1).ToList(), 0);
        var t5Ids = cat(parts.Select(p => p.Item2).ToList(), 0);
        var clipIds = cat(parts.Select(p => p.Item3).ToList(), 0);
        foreach (var (a, b, c) in parts) { a.Dispose(); b.Dispose(); c.Dispose(); }
        SafeTensorsWriter.Save(path, [new("latents", latents), new("t5_ids", t5Ids), new("clip_ids", clipIds)]);
        log($"stage B: encoded {prompts.Count} train prompts ({prompts.Select(p => p.Text).Distinct().Count()} distinct) in {clock.Elapsed.TotalSeconds:0}s");
        return (latents, t5Ids, clipIds);
    }

    /// <summary>The prompts of stage B's pool, in its order (drawn again from the seed: the pool file keeps their latents and ids only).</summary>
    List<ToyPrompt> PoolPrompts()
    {
        var random = new Random((int)DeterministicRandom.Seed(_o.Seed, "pool"));
        return Enumerable.Range(0, _o.PoolSize).Select(_ => TrainPrompt(random)).ToList();
    }

    /// <summary>
    /// [N, tokens] float32: each image token's share of ink pixels (<see cref="ToyRenderer.InkMask"/>) in the patch of
    /// the render it covers, in FLUX's packed token order (row by row), for a latent of side <paramref name="latentSize"/>.
    /// </summary>
    public static Tensor InkShares(IReadOnlyList<ToyPrompt> prompts, int latentSize)
    {
        var side = latentSize / 2;
        var patch = ToyRenderer.Size / side;
        var shares = new float[prompts.Count * side * side];
        for (int i = 0; i < prompts.Count; i++)
        {
            var mask = ToyRenderer.InkMask(prompts[i].Scene);
            for (int y = 0; y < ToyRenderer.Size; y++)
                for (int x = 0; x < ToyRenderer.Size; x++)
                    shares[(i * side + y / patch) * side + x / patch] += mask[y * ToyRenderer.Size + x] / (patch * patch);
        }
        return tensor(shares, [prompts.Count, side * side], device: CPU); // a table on the host: a batch takes its rows, then moves
    }

    /// <summary>Packed scaled latents (back on the CPU, like the pool read from its file) and both token id sets of <paramref name="prompts"/>.</summary>
    static (Tensor Latents, Tensor T5Ids, Tensor ClipIds) Encode(AutoencoderKL vae, IReadOnlyList<ToyPrompt> prompts, TextTokenizer t5Tokenizer, TextTokenizer clipTokenizer)
    {
        using var _ = no_grad();
        using var images = RenderBatch(prompts, ComputeDevice.Of(vae));
        using var posterior = vae.Encode(images);
        using var scaled = vae.ScaleLatents(posterior.Mean);
        var texts = prompts.Select(p => p.Text).ToList();
        var longest = texts.Max(t => t5Tokenizer.Encode(t).Length);
        if (longest > ToyTeacherArchitecture.T5TextLength)
            throw new InvalidOperationException($"a toy prompt needs {longest} T5 tokens, more than the teacher's {ToyTeacherArchitecture.T5TextLength}");
        var (t5Ids, t5Mask) = t5Tokenizer.EncodeBatch(texts, ToyTeacherArchitecture.T5TextLength);
        var (clipIds, clipMask) = clipTokenizer.EncodeBatch(texts, ToyTeacherArchitecture.ClipTextLength);
        t5Mask.Dispose(); clipMask.Dispose();
        var packed = LatentPacking.Pack(scaled);
        if (packed.device_type == DeviceType.CPU) return (packed, t5Ids, clipIds);
        using (packed) return (packed.cpu(), t5Ids, clipIds);
    }

    // ---- shared helpers ----

    static ToyPrompt TrainPrompt(Random random)
    {
        while (true)
        {
            var prompt = ToyPrompts.Sample(ToyCriteria.Categories[random.Next(ToyCriteria.Categories.Length)], random);
            if (ToyPrompts.SplitOf(prompt.Text) == ToySplit.Train) return prompt;
        }
    }

    static Tensor RenderBatch(IReadOnlyList<ToyPrompt> prompts, Device device)
    {
        var images = ToyImage.Stack(prompts.Select(p => ToyRenderer.Render(p.Scene)).ToList());
        if (device.type == DeviceType.CPU) return images;
        using (images) return images.to(device);
    }

    /// <summary>[N, 1, 64, 64] pixel weights 1 + inkWeight x <see cref="ToyRenderer.InkMask"/>, on <paramref name="device"/>.</summary>
    static Tensor InkWeights(IReadOnlyList<ToyPrompt> prompts, double inkWeight, Device device)
    {
        var masks = prompts.SelectMany(p => ToyRenderer.InkMask(p.Scene)).Select(m => 1 + (float)inkWeight * m).ToArray();
        return tensor(masks, [prompts.Count, 1, ToyRenderer.Size, ToyRenderer.Size], device: device);
    }

    static void SetLearningRate(AdamW optimizer, double lr)
    {
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
    }

    /// <summary>
    /// PyTorch's norm initialisation (scale 1, shift 0): TorchSharp 0.107's GroupNorm leaves its affine parameters
    /// uninitialised (measured: NaN and garbage values), which only loading weights used to hide. Then every parameter
    /// must be finite.
    /// </summary>
    static void InitialiseNorms(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var (_, module) in model.named_modules())
            if (module is GroupNorm or LayerNorm)
                foreach (var (name, p) in module.named_parameters(recurse: false))
                    if (name == "weight") p.fill_(1); else if (name == "bias") p.zero_();
        foreach (var (name, p) in model.named_parameters())
            if (!p.isfinite().all().item<bool>())
                throw new InvalidOperationException($"{model.GetName()}: parameter {name} is not finite after initialisation");
    }

    static long Parameters(nn.Module m) => m.parameters().Sum(p => p.numel());

    /// <summary>
    /// Writes the stage's weights (with <paramref name="precision"/>, its float32 masters), optimizer state and progress
    /// as one <see cref="CheckpointFolder"/>.
    /// </summary>
    static void SaveStage(string folder, (string Prefix, nn.Module Module)[] parts, AdamW optimizer, StageState state, MixedPrecision? precision = null) =>
        CheckpointFolder.Write(folder, temp =>
        {
            SafeTensorsWriter.Save(Path.Combine(temp, WeightsFile),
                parts.SelectMany(p => (precision?.StateDict(p.Module) ?? p.Module.state_dict()).Select(kv => new KeyValuePair<string, Tensor>(p.Prefix + kv.Key, kv.Value))));
            CheckpointFolder.SaveOptimizer(temp, optimizer);
            CheckpointFolder.SaveState(temp, state);
        });

    /// <summary>
    /// Loads the weights of the stage's checkpoint into <paramref name="parts"/> if there is one (the previous one if a
    /// replacement was interrupted) and returns its folder for <see cref="LoadProgress"/>; a damaged one is refused.
    /// </summary>
    static string? LoadWeights(string folder, (string Prefix, nn.Module Module)[] parts)
    {
        if (CheckpointFolder.Existing(folder) is not { } found) return null;
        CheckpointFolder.Verify(found, WeightsFile, CheckpointFolder.OptimizerFile, CheckpointFolder.StateFile);
        using (var weights = Checkpoint.Open(Path.Combine(found, WeightsFile)))
            foreach (var (prefix, module) in parts)
                ModuleLoader.Load(module, weights, candidates: name => [prefix + name], ignoreUnexpected: name => !name.StartsWith(prefix, StringComparison.Ordinal));
        return found;
    }

    /// <summary>Loads the optimizer state and progress of the checkpoint <see cref="LoadWeights"/> found.</summary>
    StageState LoadProgress(string found, AdamW optimizer)
    {
        CheckpointFolder.LoadOptimizer(found, optimizer);
        var state = CheckpointFolder.ReadState<StageState>(found);
        log($"resuming from {found} at step {state.Step}");
        return state;
    }
}
