using System.Diagnostics;
using Studio.Ml.Diffusion;
using Studio.Ml.Tensors;
using Studio.Ml.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using Studio.Ml.Models.Common;

namespace Studio.Ml.Distillation;

/// <summary>
/// The paper's step-following vision distillation (docs/METHOD.md). Per batch: fresh noise, one guidance value, the
/// training sigma schedule shifted for the resolution; at each trajectory step the frozen denoiser predicts the
/// velocity once with the teacher's states (no gradients) and once with the student's; the student is updated on the
/// float32 MSE between the two, then x moves along the teacher's guided velocity. The model family is the context's
/// <see cref="IFrozenDenoiser"/>; nothing here knows FLUX from SD3.
/// </summary>
public sealed class Distiller
{
    readonly RunConfig _config;
    readonly DistillationContext _ctx;
    readonly ITrainingReporter _reporter;
    readonly string _runDirectory;
    readonly FlatAdamW _optimizer;
    readonly StepFollowingUpdate _update;
    readonly Stopwatch _clock = new();
    readonly ScalarType _transformerDType;
    /// <summary>optimizer.ema: the average of the student's weights that validation, samples and checkpoints use.</summary>
    readonly ExponentialMovingAverage? _average;
    /// <summary>
    /// The student's dropout masks on the CPU, this run's own (not the process's global generator, which another run in
    /// the process draws from too). Null on a GPU: TorchSharp 0.107 makes CPU generators only (THSGenerator_new), so
    /// there the masks come from the device's global generator, seeded at each update (one run per GPU process is repeatable).
    /// </summary>
    readonly Generator? _dropoutRandom;
    long _updatesThisSession;

    public string CheckpointsDirectory => CheckpointsFolder(_runDirectory);

    /// <summary>Where a run folder keeps its checkpoints.</summary>
    public static string CheckpointsFolder(string runDirectory) => Path.Combine(runDirectory, "checkpoints");
    public TrainingState? LastState { get; private set; }
    /// <summary>Why the run stopped before its last update (validation.patience or validation.prune); null when it did not.</summary>
    public string? StoppedEarly { get; private set; }
    EarlyStopping? _earlyStopping;

    /// <param name="dropout">Where the student's dropout masks come from; <see cref="DropoutRandom.Auto"/>: the run's own generator on the CPU, the device's elsewhere.</param>
    public Distiller(RunConfig config, DistillationContext context, string runDirectory, ITrainingReporter reporter, DropoutRandom dropout = DropoutRandom.Auto)
    {
        if (config.Stages.Count == 0) throw new RunConfigException("stages", "a run needs at least one stage");
        _config = config;
        _ctx = context;
        _reporter = reporter;
        _runDirectory = runDirectory;
        var o = config.Optimizer;
        _optimizer = new FlatAdamW(optim.AdamW(context.Student.parameters(), lr: o.Lr, beta1: o.Beta1, beta2: o.Beta2, eps: o.Eps, weight_decay: o.WeightDecay));
        _update = new StepFollowingUpdate(context.Student, context.Denoiser, _optimizer, o.GradClip, config.Loss, o.GradAccumulation);
        _transformerDType = context.Denoiser.Module.parameters().First().dtype;
        _average = o.Ema > 0 ? new ExponentialMovingAverage(context.Student, o.Ema, o.EmaStart) : null;
        if (dropout == DropoutRandom.Auto) dropout = context.Device.type == DeviceType.CPU ? DropoutRandom.RunGenerator : DropoutRandom.DeviceGenerator;
        if (dropout == DropoutRandom.RunGenerator && context.Device.type != DeviceType.CPU)
            throw new ArgumentException($"dropout: TorchSharp makes CPU generators only, so a run on {context.Device} cannot have its own", nameof(dropout));
        _dropoutRandom = dropout == DropoutRandom.RunGenerator ? new Generator(0, CPU) : null;
        SeededDropout.UseGenerator(context.Student, _dropoutRandom);
    }

    /// <summary>
    /// Runs every stage to the end, until cancelled, or until the held-out loss stops improving (validation.patience;
    /// <see cref="StoppedEarly"/> says why); a checkpoint is written at the end in each case. Resumes from
    /// <paramref name="resumeFrom"/> when given.
    /// </summary>
    public TrainingState Run(CancellationToken cancel, string? resumeFrom = null)
    {
        var state = resumeFrom is null ? Fresh() : Resume(resumeFrom);
        StoppedEarly = null;
        _earlyStopping = _config.Validation.Patience > 0 || _config.Validation.Prune != "none"
            ? new EarlyStopping(CheckpointsDirectory, _config.Validation.Patience, state.GlobalStep) : null;
        _clock.Start();
        var latents = _resumedLatents;
        _resumedLatents = null;
        for (int stageIndex = state.Stage; stageIndex < _config.Stages.Count; stageIndex++)
        {
            var stage = _config.Stages[stageIndex];
            if (state.Stage != stageIndex)
                state = state with { Stage = stageIndex, StageUpdate = 0, BatchIndex = 0, TrajectoryStep = 0, BatchStartMix = EmptyMix(stageIndex), Mix = EmptyMix(stageIndex) };
            if (state.StageUpdate == 0 && state.TrajectoryStep == 0)
                _reporter.Event(new TrainingEvent(TrainingEventKind.StageStarted, stageIndex, state.GlobalStep,
                    $"stage {stageIndex + 1}/{_config.Stages.Count} '{stage.Name}': {stage.Updates} updates at {stage.Resolution}px"));
            state = RunStage(stageIndex, stage, state, ref latents, cancel);
            if (cancel.IsCancellationRequested || StoppedEarly is not null) break;
        }
        latents?.Dispose();
        LastState = state;
        return state;
    }

    Tensor? _resumedLatents;

    TrainingState Fresh() => new()
    {
        Stage = 0, StageUpdate = 0, GlobalStep = 0, BatchIndex = 0, TrajectoryStep = 0,
        BatchStartMix = EmptyMix(0), Mix = EmptyMix(0), ConfigYaml = _config.ToYaml(),
    };

    MixPosition EmptyMix(int stage) => new(0, new long[_config.Stages[stage].Prompts.Count]);

    TrainingState Resume(string checkpoint)
    {
        var (state, latents) = TrainingCheckpoint.Load(checkpoint, _ctx.Student, _optimizer.Optimizer, _average);
        _resumedLatents = latents;
        _reporter.Event(new TrainingEvent(TrainingEventKind.Resumed, state.Stage, state.GlobalStep,
            $"resumed at step {state.GlobalStep} from {Path.GetFileName(checkpoint)}",
            new Dictionary<string, string> { [TrainingEventData.Path] = checkpoint }));
        return state;
    }

    TrainingState RunStage(int stageIndex, StageConfig stage, TrainingState state, ref Tensor? latents, CancellationToken cancel)
    {
        var pools = stage.Prompts.Select(source => new PromptPool(source.Set, _ctx.Prompts(source), source.Weight, source.Repeat)).ToList();
        var batchSize = _config.Optimizer.BatchSize;
        var steps = _config.Trajectory.Steps;
        var baseLr = stage.Lr ?? _config.Optimizer.Lr;

        while (state.StageUpdate < stage.Updates && !cancel.IsCancellationRequested && StoppedEarly is null)
        {
            // A batch is a whole teacher trajectory; a checkpoint taken mid-trajectory restores its latents and re-draws its prompts.
            var mix = new PromptMix(pools, _config.Seed, stageIndex, state.TrajectoryStep == 0 ? state.Mix : state.BatchStartMix);
            var batchStart = mix.Position;
            var prompts = mix.NextBatch(batchSize);
            var batchIndex = state.TrajectoryStep == 0 ? state.BatchIndex + 1 : state.BatchIndex;
            state = state with { BatchIndex = batchIndex, BatchStartMix = batchStart, Mix = mix.Position };

            var texts = prompts.Select(p => p.Text).ToList();
            var (ids, mask) = _ctx.Tokenize(texts, _config.Text.MaxLength);
            var resumed = state.TrajectoryStep == 0 ? null : latents;
            if (resumed is null) latents?.Dispose();
            latents = null;
            using var trajectory = StartTrajectory(stageIndex, batchIndex, stage.Resolution, ids, mask, TeacherConditioning(texts), resumed);

            for (int j = state.TrajectoryStep; j < steps; j++)
            {
                var lr = LearningRateSchedule.At(_config.Optimizer.Schedule, baseLr, state.StageUpdate, stage.Updates, _config.Optimizer.WarmupUpdates);
                var update = Step(trajectory, j, lr, state.GlobalStep);
                state = state with { TrajectoryStep = j + 1 < steps ? j + 1 : 0 };
                if (update is not null)
                {
                    state = state with { StageUpdate = state.StageUpdate + 1, GlobalStep = state.GlobalStep + 1 };
                    _updatesThisSession++;
                    Report(state, update, prompts, trajectory.Schedule.Sigmas[j], lr);
                    TrainingDivergedException.ThrowIfNotFinite(update, state.GlobalStep, lr, _lastCheckpoint?.Path);
                }

                var due = state.GlobalStep > 0 && update is not null;
                var stageDone = state.StageUpdate >= stage.Updates;
                if (due && (state.GlobalStep % _config.Checkpoints.Every == 0 || stageDone && stageIndex == _config.Stages.Count - 1 || cancel.IsCancellationRequested))
                    WriteCheckpoint(state, state.TrajectoryStep == 0 ? null : trajectory.Latents);
                // Validation and samples also come at the run's last update, so the charts end where the run ends.
                var lastUpdate = stageDone && stageIndex == _config.Stages.Count - 1;
                if (due && _config.Validation.Every > 0 && (state.GlobalStep % _config.Validation.Every == 0 || lastUpdate))
                {
                    var results = Validate(state, stage);
                    if (StopsEarly(state, results) && _lastCheckpoint?.Step != state.GlobalStep)
                    {
                        WriteCheckpoint(state, state.TrajectoryStep == 0 ? null : trajectory.Latents);
                        ScoreCheckpoint(state, results);
                    }
                }
                if (due && _config.Samples.Every > 0 && (state.GlobalStep % _config.Samples.Every == 0 || lastUpdate || StoppedEarly is not null))
                    Sample(state, stage);
                if (stageDone || cancel.IsCancellationRequested || StoppedEarly is not null) break;
            }
            // An interrupted trajectory keeps its latents for the checkpoint's resume within this session.
            if (state.TrajectoryStep != 0) latents = trajectory.TakeLatents();
        }
        return state;
    }

    /// <summary>
    /// Starts the teacher trajectory of batch <paramref name="batchIndex"/> of a stage: fresh seeded noise (or the
    /// latents of a resumed trajectory), its guidance draw, and the training schedule shifted for the resolution.
    /// Takes ownership of the tensors passed in and moves them to the training device and the transformer's dtype.
    /// </summary>
    public TeacherTrajectory StartTrajectory(int stageIndex, long batchIndex, int resolution, Tensor inputIds, Tensor attentionMask,
        TextConditioning teacher, Tensor? latents = null)
    {
        var batchSize = inputIds.shape[0];
        if (latents is null)
        {
            using var generator = new Generator((ulong)DeterministicRandom.Seed(_config.Seed, "noise", stageIndex, batchIndex));
            // Drawn on the CPU generator, then moved: a seed gives the same trajectory on every device.
            using var noise = _ctx.Denoiser.Noise((int)batchSize, resolution, generator);
            latents = noise.to(_ctx.Device);
        }
        var guidanceValue = _config.Trajectory.Guidance[(int)(DeterministicRandom.Uniform(_config.Seed, "guidance", stageIndex, batchIndex) * _config.Trajectory.Guidance.Count)];
        using var ids = inputIds;
        using var mask = attentionMask;
        using (teacher)
            return new TeacherTrajectory(
                schedule: _ctx.Denoiser.TrainingSchedule(_config.Trajectory.Steps, resolution),
                inputIds: ids.to(_ctx.Device),
                attentionMask: _config.Text.AttentionMask ? mask.to(_ctx.Device) : null,
                teacher: teacher.To(_transformerDType, _ctx.Device),
                guidance: full(batchSize, guidanceValue, device: _ctx.Device),
                latents: latents);
    }

    /// <summary>The teacher's conditioning of <paramref name="texts"/> from the cache; the pooled vector zeroed when text.zero_pooled.</summary>
    TextConditioning TeacherConditioning(IReadOnlyList<string> texts) => new(_ctx.Teacher.States(texts), _ctx.Teacher.Kept(texts),
        _config.Text.ZeroPooled ? zeros(texts.Count, _ctx.Denoiser.PooledWidth, device: _ctx.Device) : _ctx.Teacher.Pooled(texts));

    /// <summary>
    /// Step <paramref name="j"/> of a trajectory (<see cref="StepFollowingUpdate.Step"/>) at learning rate
    /// <paramref name="lr"/>, with dropout seeded from <paramref name="globalStep"/> when <paramref name="j"/> is an
    /// update step. Returns the update's numbers, or null when the step was not an update. <paramref name="phaseEnded"/>:
    /// see <see cref="StepFollowingUpdate.Step"/>.
    /// </summary>
    public UpdateResult? Step(TeacherTrajectory trajectory, int j, double lr, long globalStep, Action<string>? phaseEnded = null)
    {
        var update = IsUpdateStep(j);
        if (update)
        {
            // The dropout masks are seeded from the step, so a resumed run draws the same masks.
            if (_dropoutRandom is not null) _dropoutRandom.manual_seed(DeterministicRandom.Seed(_config.Seed, "dropout", globalStep));
            foreach (var group in _optimizer.Optimizer.ParamGroups) group.LearningRate = lr;
        }
        var result = _update.Step(trajectory, j, update, phaseEnded: phaseEnded,
            studentForward: update && _dropoutRandom is null ? k => DeviceDropout.Seeded(DeterministicRandom.Seed(_config.Seed, "dropout", globalStep, k)) : null);
        if (result is not null) _average?.Update(globalStep + 1);
        return result;
    }

    /// <summary>The tensor on the training device; a moved tensor's CPU original is released.</summary>
    Tensor OnDevice(Tensor t)
    {
        if (t.device == _ctx.Device) return t;
        using (t) return t.to(_ctx.Device);
    }

    bool IsUpdateStep(int j)
    {
        var t = _config.Trajectory;
        var eligible = t.UpdateSteps.Count == 0 || t.UpdateSteps.Contains(j);
        return eligible && j % Math.Max(1, t.UpdateEvery) == 0;
    }

    void Report(TrainingState state, UpdateResult update, IReadOnlyList<Prompt> prompts, float sigma, double lr)
    {
        var (loss, perSample, gradNorm) = (update.Loss, update.PerSample, update.GradientNorm);
        var elapsed = _clock.Elapsed;
        var rate = _updatesThisSession / Math.Max(1e-9, elapsed.TotalSeconds);
        var remaining = _config.TotalUpdates - state.GlobalStep;
        var byCategory = prompts.Select((p, i) => (p.Category, perSample[i]))
            .GroupBy(x => x.Category).ToDictionary(g => g.Key, g => g.Average(x => x.Item2));
        _reporter.Update(new UpdateMetrics
        {
            Stage = state.Stage,
            Step = state.GlobalStep,
            TotalSteps = _config.TotalUpdates,
            Loss = loss,
            LossBySigmaBucket = new Dictionary<string, double> { [SigmaBucket(sigma)] = loss },
            LossByCategory = byCategory,
            LearningRate = lr,
            GradientNorm = gradNorm,
            GradientNormByModule = update.GradientNormByModule ?? new Dictionary<string, double>(),
            UpdatesPerSecond = rate,
            PromptsPerSecond = rate * _config.Optimizer.BatchSize / Math.Max(1, _config.Trajectory.Steps / Math.Max(1, _config.Trajectory.UpdateEvery)),
            Elapsed = elapsed,
            Eta = rate > 0 ? TimeSpan.FromSeconds(remaining / rate) : null,
            ProcessMemoryBytes = Environment.WorkingSet,
            CudaMemoryBytes = ComputeDevice.MemoryOf(_ctx.Device)?.UsedBytes,
        });
    }

    /// <summary>Sigma buckets of width 0.1: "0.9-1.0" holds the noisiest steps.</summary>
    public static string SigmaBucket(double sigma)
    {
        var lower = Math.Min(9, (int)Math.Floor(sigma * 10));
        return $"{lower / 10.0:0.0}-{(lower + 1) / 10.0:0.0}";
    }

    void WriteCheckpoint(TrainingState state, Tensor? latents)
    {
        var path = TrainingCheckpoint.Save(CheckpointsDirectory, _ctx.Student, _optimizer.Optimizer, state, latents, _average);
        _reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointWritten, state.Stage, state.GlobalStep,
            $"checkpoint {Path.GetFileName(path)}", new Dictionary<string, string>
            {
                [TrainingEventData.Path] = path,
                [TrainingEventData.Bytes] = new DirectoryInfo(path).EnumerateFiles().Sum(f => f.Length).ToString(System.Globalization.CultureInfo.InvariantCulture),
            }));
        _lastCheckpoint = (state.GlobalStep, path);
        PruneCheckpoints(state);
    }

    /// <summary>The newest checkpoint this session wrote, and its step (its validation, at the same step, scores it).</summary>
    (long Step, string Path)? _lastCheckpoint;

    /// <summary>
    /// Deletes checkpoints beyond checkpoints.keep (the best one kept with keep_best, those the reporter holds left for a
    /// later prune); whoever lists the run's checkpoints learns which are gone.
    /// </summary>
    void PruneCheckpoints(TrainingState state)
    {
        var best = _config.Checkpoints.KeepBest ? TrainingCheckpoint.Best(CheckpointsDirectory) : null;
        var held = new List<string>();
        foreach (var removed in TrainingCheckpoint.Prune(CheckpointsDirectory, _config.Checkpoints.Keep, best, Held))
            _reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointRemoved, state.Stage, state.GlobalStep,
                $"checkpoint {Path.GetFileName(removed)} removed (checkpoints.keep: {_config.Checkpoints.Keep})",
                new Dictionary<string, string> { [TrainingEventData.Path] = removed }));
        // Said once per checkpoint: whoever releases the hold after the run deletes it (the studio's CheckpointRetention).
        foreach (var path in held.Where(_heldReported.Add))
            _reporter.Event(new TrainingEvent(TrainingEventKind.CheckpointHeld, state.Stage, state.GlobalStep,
                $"checkpoint {Path.GetFileName(path)} kept past checkpoints.keep ({_config.Checkpoints.Keep}) while an evaluation of it waits; deleted once it has run",
                new Dictionary<string, string> { [TrainingEventData.Path] = path }));

        // Asked only of checkpoints beyond keep that are not the best one.
        bool Held(string checkpoint)
        {
            if (!_reporter.Holds(checkpoint)) return false;
            held.Add(checkpoint);
            return true;
        }
    }

    /// <summary>The checkpoints whose hold this session reported (<see cref="TrainingEventKind.CheckpointHeld"/>).</summary>
    readonly HashSet<string> _heldReported = [];

    /// <summary>With keep_best, the checkpoint of this step gets the held-out loss just measured; a new best lets the old one go.</summary>
    void ScoreCheckpoint(TrainingState state, IReadOnlyDictionary<string, ValidationScore> results)
    {
        if (!_config.Checkpoints.KeepBest || _lastCheckpoint is not { } last || last.Step != state.GlobalStep || results.Count == 0) return;
        var score = results.Values.Average(r => r.VisionLoss);
        var before = TrainingCheckpoint.Best(CheckpointsDirectory);
        TrainingCheckpoint.RecordScore(last.Path, score);
        if (TrainingCheckpoint.Best(CheckpointsDirectory) == last.Path && before != last.Path)
            _reporter.Event(new TrainingEvent(TrainingEventKind.Info, state.Stage, state.GlobalStep,
                $"checkpoint {Path.GetFileName(last.Path)} is the best so far (held-out vision loss {score:G4}): kept (checkpoints.keep_best)"));
        PruneCheckpoints(state);
    }

    /// <summary>validation.prune asks from a run's third validation on: the first ones of a warming-up run say little.</summary>
    public const int PruneFromValidation = 3;

    /// <summary>
    /// Whether validation.prune asks at a run's <paramref name="validations"/>-th validation: median at every one from
    /// the third, halving at its rungs, the 3rd, 3·f-th, 3·f²-th ... (f = validation.prune_factor).
    /// </summary>
    public static bool AsksToPrune(ValidationConfig validation, int validations)
    {
        switch (validation.Prune)
        {
            case "median": return validations >= PruneFromValidation;
            case "halving" when validation.PruneFactor >= 2:
                long rung = PruneFromValidation;
                while (rung < validations) rung *= validation.PruneFactor;
                return rung == validations;
            default: return false;
        }
    }

    /// <summary>
    /// With validation.patience or validation.prune, records this validation's held-out loss and says whether the run
    /// stops here (and reports why): its own patience first, then the comparison with its group.
    /// </summary>
    bool StopsEarly(TrainingState state, IReadOnlyDictionary<string, ValidationScore> results)
    {
        if (_earlyStopping is null || results.Count == 0) return false;
        StoppedEarly = _earlyStopping.Record(state.GlobalStep, results.Values.Average(r => r.VisionLoss));
        if (StoppedEarly is null && AsksToPrune(_config.Validation, _earlyStopping.Count) && _earlyStopping.Best is { } best)
            StoppedEarly = _reporter.Prune(new PruneQuestion(_config.Validation.Prune, _config.Validation.PruneFactor, state.GlobalStep, best.Loss));
        if (StoppedEarly is null) return false;
        _reporter.Event(new TrainingEvent(TrainingEventKind.StoppedEarly, state.Stage, state.GlobalStep, StoppedEarly));
        return true;
    }

    /// <summary>
    /// Deterministic held-out check at the family's validation guidance: vision loss over fixed noises and trajectory
    /// points, and cosine of projected states, by category (none without validation prompts).
    /// </summary>
    IReadOnlyDictionary<string, ValidationScore> Validate(TrainingState state, StageConfig stage)
    {
        if (_config.Validation.Prompts.Count == 0) return new Dictionary<string, ValidationScore>();
        using var averaged = _average?.Swap();
        _ctx.Student.eval();
        var prompts = _config.Validation.Prompts.SelectMany(_ctx.Prompts)
            .GroupBy(p => p.Category)
            .ToDictionary(g => g.Key, g => g.Take(_config.Validation.PromptsPerCategory).ToList());
        var results = new Dictionary<string, ValidationScore>();
        var schedule = _ctx.Denoiser.TrainingSchedule(_config.Trajectory.Steps, stage.Resolution);
        using var _ = no_grad();
        foreach (var (category, list) in prompts)
        {
            using var scope = NewDisposeScope();
            var texts = list.Select(p => p.Text).ToList();
            var n = texts.Count;
            var cached = TeacherConditioning(texts);
            var teacher = new TextConditioning(OnDevice(cached.Slot), cached.Kept is null ? null : OnDevice(cached.Kept), OnDevice(cached.Pooled));
            var (ids, mask) = _ctx.Tokenize(texts, _config.Text.MaxLength);
            var studentStates = _ctx.Student.forward(OnDevice(ids), _config.Text.AttentionMask ? OnDevice(mask) : null);
            var cosine = nn.functional.cosine_similarity(studentStates.to_type(ScalarType.Float32), teacher.Slot.to_type(ScalarType.Float32), dim: -1).mean().item<float>();
            var student = teacher with { Slot = studentStates };
            var guidance = full(n, _ctx.Denoiser.ValidationGuidance, device: _ctx.Device);
            double lossSum = 0;
            int count = 0;
            for (int k = 0; k < _config.Validation.Noises; k++)
            {
                using var generator = new Generator((ulong)DeterministicRandom.Seed(_config.Seed, "validation-noise", k));
                var x = _ctx.Denoiser.Noise(n, stage.Resolution, generator).to(_ctx.Device);
                // Walk the teacher's trajectory and score the student at a few fixed points along it.
                for (int j = 0; j < _config.Trajectory.Steps; j++)
                {
                    var t = full(n, schedule.Sigmas[j], device: _ctx.Device);
                    var vT = _ctx.Denoiser.Velocity(x, t, teacher, guidance);
                    if (j % Math.Max(1, _config.Trajectory.Steps / 4) == 0)
                    {
                        var vS = _ctx.Denoiser.Velocity(x, t, student, guidance);
                        lossSum += (vS - vT).square().mean().item<float>();
                        count++;
                    }
                    x = x + (schedule.Sigmas[j + 1] - schedule.Sigmas[j]) * _ctx.Denoiser.Guided(vT, x, t, guidance);
                }
            }
            results[category] = new ValidationScore(lossSum / Math.Max(1, count), cosine);
        }
        _reporter.Validation(new ValidationMetrics(state.Stage, state.GlobalStep, results, DateTime.UtcNow));
        ScoreCheckpoint(state, results);
        return results;
    }

    void Sample(TrainingState state, StageConfig stage)
    {
        if (_ctx.Samples is null || _config.Samples.Prompts.Count == 0) return;
        using var averaged = _average?.Swap();
        _ctx.Student.eval();
        var resolution = _config.Samples.Resolution > 0 ? _config.Samples.Resolution : stage.Resolution;
        var s = _config.Samples;
        using var _ = no_grad();
        var teacherDir = Path.Combine(_runDirectory, "samples", "teacher");
        if (!Directory.Exists(teacherDir))
        {
            // Rendered aside and moved in whole: an interrupted teacher render is redone, never left half done.
            var aside = teacherDir + ".partial";
            if (Directory.Exists(aside)) Directory.Delete(aside, recursive: true);
            var rendered = _ctx.Samples.Render(null, s.Prompts, s.Seeds, s.Steps, s.Guidance, resolution, aside);
            Directory.Move(aside, teacherDir);
            ReportSamples(state, 0, teacher: true, rendered.Select(path => Path.Combine(teacherDir, Path.GetFileName(path))).ToList());
        }
        var dir = Path.Combine(_runDirectory, "samples", TrainingCheckpoint.DirectoryName(state.GlobalStep));
        ReportSamples(state, state.GlobalStep, teacher: false, _ctx.Samples.Render(_ctx.Student, s.Prompts, s.Seeds, s.Steps, s.Guidance, resolution, dir));
    }

    /// <summary>One SampleReady event per image; the renderer returns them prompt-major (prompt 0 with every seed, then prompt 1, ...).</summary>
    void ReportSamples(TrainingState state, long step, bool teacher, IReadOnlyList<string> paths)
    {
        var seeds = _config.Samples.Seeds;
        for (int i = 0; i < paths.Count; i++)
        {
            var promptIndex = i / seeds.Count;
            _reporter.Event(new TrainingEvent(TrainingEventKind.SampleReady, state.Stage, step,
                $"{(teacher ? "teacher" : "student")} sample: prompt {promptIndex}, seed {seeds[i % seeds.Count]}",
                new Dictionary<string, string>
                {
                    [TrainingEventData.Path] = paths[i],
                    [TrainingEventData.PromptIndex] = promptIndex.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    [TrainingEventData.Prompt] = _config.Samples.Prompts[promptIndex],
                    [TrainingEventData.Seed] = seeds[i % seeds.Count].ToString(System.Globalization.CultureInfo.InvariantCulture),
                    [TrainingEventData.Teacher] = teacher ? "true" : "false",
                }));
        }
    }
}

/// <summary>
/// One teacher trajectory of a batch of prompts on the training device: token ids, the teacher's conditioning in the
/// frozen transformer's dtype, the guidance (B,), the sigma schedule, and the float32 latents at the current step (in
/// the family's layout).
/// </summary>
public sealed class TeacherTrajectory(FlowMatchSchedule schedule, Tensor inputIds, Tensor? attentionMask, TextConditioning teacher,
    Tensor guidance, Tensor latents) : IDisposable
{
    public FlowMatchSchedule Schedule { get; } = schedule;
    public Tensor InputIds { get; } = inputIds;
    public Tensor? AttentionMask { get; } = attentionMask;
    public TextConditioning Teacher { get; } = teacher;
    public Tensor Guidance { get; } = guidance;
    Tensor? _latents = latents;
    public Tensor Latents => _latents ?? throw new ObjectDisposedException(nameof(TeacherTrajectory), "the latents were taken");

    internal void ReplaceLatents(Tensor next)
    {
        _latents?.Dispose();
        _latents = next;
    }

    /// <summary>Hands the latents to the caller (who disposes them).</summary>
    internal Tensor TakeLatents()
    {
        var latents = Latents;
        _latents = null;
        return latents;
    }

    public void Dispose()
    {
        Teacher.Dispose();
        foreach (var t in new[] { InputIds, AttentionMask, Guidance, _latents }) t?.Dispose();
    }
}
