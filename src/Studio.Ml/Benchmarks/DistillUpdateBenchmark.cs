using System.Diagnostics;
using System.Text.Json.Nodes;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.Common;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Benchmarks;

/// <summary>
/// The standard distillation-update workload of bench/distill-toy.json: a T5 student with its projection, a frozen
/// FLUX transformer, precomputed teacher states, and one step-following update per timed call. `dtype` float32 times a
/// float32 then a bfloat16 transformer; bfloat16 (bench/distill-paper.json) only the bfloat16 one. `device` is cpu,
/// cuda or cuda:N; `gradient_checkpointing` (optional, default false) recomputes the transformer blocks' activations.
/// </summary>
public sealed record DistillUpdateWorkload(
    WorkloadFile File, T5Config Student, int ProjectionDim, double ProjectionDropout, FluxTransformerConfig Transformer,
    int Batch, int TextLength, int LatentChannels, int LatentSize, OptimizerConfig Optimizer, int Steps,
    ScalarType DType = ScalarType.Float32, bool GradientCheckpointing = false)
{
    /// <summary>The same workload at another batch size (its JSON says so).</summary>
    public DistillUpdateWorkload WithBatch(int batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "the batch must be at least 1");
        var json = (JsonObject)File.Json.DeepClone();
        json["batch"] = batch;
        return this with { Batch = batch, File = File with { Json = json } };
    }

    public static DistillUpdateWorkload Load(string path)
    {
        var (file, config) = WorkloadFile.Load(path);
        JsonObject Section(string field) => file.Json[field] as JsonObject ?? throw config.Invalid(field, "must be an object");
        var dtype = config.String("dtype") switch
        {
            "float32" => ScalarType.Float32,
            "bfloat16" => ScalarType.BFloat16,
            var other => throw config.Invalid("dtype", $"is '{other}'; float32 (then bfloat16 is run after it) or bfloat16 (the frozen transformer only)"),
        };
        int Positive(string field) => WorkloadFile.Positive(config, field);

        var student = T5Config.From(new ModelConfig(Section("student"), $"{path} (student)"));
        var transformer = FluxTransformerConfig.From(new ModelConfig(Section("transformer"), $"{path} (transformer)"));
        var projectionDim = Positive("projection_dim");
        if (projectionDim != transformer.JointAttentionDim)
            throw config.Invalid("projection_dim", $"is {projectionDim} but the transformer's joint_attention_dim is {transformer.JointAttentionDim}");

        var latent = config.IntArray("latent_shape");
        if (latent.Length != 3 || latent[1] != latent[2] || latent[1] % 2 != 0)
            throw config.Invalid("latent_shape", $"must be [channels, size, size] with an even size, found [{string.Join(", ", latent)}]");
        if (latent[0] * 4 != transformer.InChannels)
            throw config.Invalid("latent_shape", $"has {latent[0]} channels; packed 2x2 they must give the transformer's in_channels {transformer.InChannels}");
        if (config.Int("image_tokens") != latent[1] / 2 * (latent[2] / 2))
            throw config.Invalid("image_tokens", $"is {config.Int("image_tokens")} but latents of {latent[1]}x{latent[2]} pack into {latent[1] / 2 * (latent[2] / 2)} tokens");

        var optimizer = new ModelConfig(Section("optimizer"), $"{path} (optimizer)");
        if (optimizer.String("name") != "AdamW") throw optimizer.Invalid("name", $"is '{optimizer.String("name")}'; the workload's optimizer is AdamW");
        var betas = optimizer.DoubleArray("betas");
        if (betas.Length != 2) throw optimizer.Invalid("betas", $"must be two numbers, found {betas.Length}");
        var schedule = new ModelConfig(Section("schedule"), $"{path} (schedule)");
        var batch = Positive("batch");

        return new DistillUpdateWorkload(
            File: file,
            Student: student,
            ProjectionDim: projectionDim,
            ProjectionDropout: config.Double("projection_dropout"),
            Transformer: transformer,
            Batch: batch,
            TextLength: Positive("text_len"),
            LatentChannels: latent[0],
            LatentSize: latent[1],
            Optimizer: new OptimizerConfig
            {
                Lr = optimizer.Double("lr"), Beta1 = betas[0], Beta2 = betas[1], Eps = optimizer.Double("eps"),
                WeightDecay = optimizer.Double("weight_decay"), GradClip = config.Double("clip_grad_norm"),
            },
            Steps: schedule.Int("steps") is var steps && steps > 0 ? steps : throw schedule.Invalid("steps", $"must be positive, found {steps}"),
            DType: dtype,
            GradientCheckpointing: config.Bool("gradient_checkpointing", false));
    }
}

/// <summary>
/// Times the workload through the trainer itself: a <see cref="Distiller"/> over a <see cref="StudentEncoder"/> and a
/// <see cref="FluxTransformer"/>, one <see cref="Distiller.Step"/> (teacher velocity, student update, Euler step) per
/// timed call; a new trajectory (fresh noise, guidance) every `steps` updates, outside the timing.
/// </summary>
public static class DistillUpdateBenchmark
{
    /// <param name="TransformerDType">The frozen transformer's dtype (the student's master weights are float32 in both).</param>
    /// <param name="MatmulGflop">Matrix-product GFLOP of one update, counted from the dims (<see cref="UpdateGflop"/>).</param>
    /// <param name="PeakGflops">This process's 2048^3 matrix product in the transformer's dtype at the workload's threads (on its device).</param>
    /// <param name="GpuMemoryUsedBytes">The most device memory in use (cudaMemGetInfo: the caching allocator's reserve
    /// included) seen after the warm-up and after each timed update; null on the CPU.</param>
    /// <param name="GpuMemoryBeforeBytes">The device memory in use before any model was moved onto it (the CUDA context,
    /// other processes): what <paramref name="GpuMemoryUsedBytes"/> holds beside this run's tensors. Null on the CPU.</param>
    /// <param name="PhaseMedianMs">With phases: the median milliseconds of each <see cref="UpdatePhase"/>, from a second
    /// pass that waits for the device at the end of every phase (so the phases' sum exceeds the update's time a little).</param>
    public sealed record Result(ScalarType TransformerDType, int Batch, BenchmarkTimes Times, double MatmulGflop, double PeakGflops,
        long? GpuMemoryUsedBytes = null, long? GpuMemoryTotalBytes = null, long? GpuMemoryBeforeBytes = null,
        IReadOnlyDictionary<string, double>? PhaseMedianMs = null)
    {
        public double Gflops => MatmulGflop / (Times.MedianMs / 1000);
        public double PeakFraction => Gflops / PeakGflops;
    }

    /// <summary>
    /// Times the workload at each of <paramref name="batches"/> (default: the workload's batch) with a float32 then a
    /// bfloat16 frozen transformer (float32 workloads; the same weights), or the bfloat16 one only. The transformer is
    /// built once per dtype, on the CPU, then moved to the workload's device. <paramref name="phases"/> adds a second
    /// timed pass per line that measures each phase of the update.
    /// </summary>
    public static IReadOnlyList<Result> Run(DistillUpdateWorkload workload, IReadOnlyList<int>? batches = null, bool phases = false)
    {
        var device = workload.File.Start();
        batches ??= [workload.Batch];
        manual_seed(workload.File.Seed);
        var results = new List<Result>();
        using var first = FluxTransformer.Create(workload.Transformer, workload.DType);
        first.GradientCheckpointing = workload.GradientCheckpointing;
        // Token ids and teacher states of the largest batch, drawn on the CPU (the same on every device); each batch takes its first rows.
        using var ids = randint(0, workload.Student.VocabSize, [batches.Max(), workload.TextLength], dtype: ScalarType.Int64, device: CPU);
        using var teacherStates = randn([batches.Max(), workload.TextLength, workload.ProjectionDim], device: CPU);
        using var bf16 = workload.DType == ScalarType.Float32 ? FluxTransformer.Create(workload.Transformer, ScalarType.BFloat16) : null;
        if (bf16 is not null)
        {
            bf16.GradientCheckpointing = workload.GradientCheckpointing;
            using var _ = no_grad();
            var weights = first.state_dict();
            foreach (var (name, p) in bf16.state_dict()) p.copy_(weights[name]);
        }
        var before = ComputeDevice.MemoryOf(device)?.UsedBytes;
        foreach (var transformer in new[] { first, bf16 }.OfType<FluxTransformer>())
        {
            var dtype = transformer.parameters().First().dtype;
            transformer.to(device);
            var peak = MatmulPeakGflops(dtype, device);
            foreach (var batch in batches)
            {
                var atBatch = workload.WithBatch(batch);
                var (times, memory, phaseMs) = Time(atBatch, transformer, ids.narrow(0, 0, batch), teacherStates.narrow(0, 0, batch), device, phases);
                results.Add(new Result(dtype, batch, times, UpdateGflop(atBatch), peak, memory?.UsedBytes, memory?.TotalBytes, before, phaseMs));
            }
            transformer.to(CPU);
        }
        return results;
    }

    static (BenchmarkTimes, (long UsedBytes, long TotalBytes)?, IReadOnlyDictionary<string, double>?) Time(DistillUpdateWorkload workload,
        FluxTransformer transformer, Tensor ids, Tensor teacherStates, Device device, bool phases)
    {
        // Every student starts from the same seeded initialisation (transformers' T5 init, default Linear init for the projection).
        using var student = StudentEncoder.Create(workload.Student, workload.ProjectionDim, workload.ProjectionDropout, workload.File.Seed);
        student.to(device);
        workload.Optimizer.BatchSize = workload.Batch;
        var config = new RunConfig
        {
            Name = workload.File.Name,
            Seed = workload.File.Seed,
            Loss = LossKind.Vision,
            Text = new TextConfig { MaxLength = workload.TextLength, AttentionMask = false, ZeroPooled = true },
            Trajectory = new TrajectoryConfig { Steps = workload.Steps },
            Optimizer = workload.Optimizer,
            Stages = [new StageConfig { Name = "bench", Resolution = workload.LatentSize * 8, Updates = workload.File.Warmup + workload.File.Repeats }],
        };
        var context = new DistillationContext
        {
            Denoiser = new FrozenFlux(transformer, FlowMatchSchedulerConfig.Flux),
            Student = student,
            Tokenize = (_, _) => throw new NotSupportedException("the benchmark passes token ids directly"),
            Teacher = new NoTeacher(),
            Prompts = _ => throw new NotSupportedException("the benchmark has no prompt sets"),
            Device = device,
        };
        var distiller = new Distiller(config, context, Path.Combine(Path.GetTempPath(), "studio-bench-distill"), new SilentReporter());

        TeacherTrajectory? trajectory = null;
        long batchIndex = 0, update = 0;
        int step = 0;
        (long UsedBytes, long TotalBytes)? memory = null;
        void NoteMemory()
        {
            if (ComputeDevice.MemoryOf(device) is { } now && now.UsedBytes > (memory?.UsedBytes ?? -1)) memory = now;
        }

        // The same calls again, waiting for the device at the end of each phase; the warm-up calls are not counted.
        IReadOnlyDictionary<string, double> TimePhases()
        {
            var ms = new Dictionary<string, List<double>>();
            var clock = new Stopwatch();
            var calls = 0;
            void PhaseEnded(string phase)
            {
                ComputeDevice.Synchronize(device);
                if (calls > workload.File.Warmup)
                    (ms.TryGetValue(phase, out var list) ? list : ms[phase] = []).Add(clock.Elapsed.TotalMilliseconds);
                clock.Restart();
            }
            workload.File.Measure(before: Before, call: () =>
            {
                calls++;
                clock.Restart();
                distiller.Step(trajectory!, step++, workload.Optimizer.Lr, update++, PhaseEnded);
            });
            return ms.ToDictionary(p => p.Key, p => BenchmarkTimes.Of(p.Value).MedianMs);
        }
        void Before()
        {
            NoteMemory();
            if (trajectory is not null && step < workload.Steps) return;
            trajectory?.Dispose();
            trajectory = distiller.StartTrajectory(0, ++batchIndex, config.Stages[0].Resolution, ids.clone(),
                ones_like(ids), new TextConditioning(teacherStates.clone(), null, zeros(workload.Batch, workload.Transformer.PooledProjectionDim, device: device)));
            step = 0;
        }
        try
        {
            var times = workload.File.Measure(before: Before, call: () =>
            {
                distiller.Step(trajectory!, step++, workload.Optimizer.Lr, update++);
                ComputeDevice.Synchronize(device);
            });
            NoteMemory();
            return (times, memory, phases ? TimePhases() : null);
        }
        finally
        {
            trajectory?.Dispose();
        }
    }

    /// <summary>
    /// Matrix-product GFLOP of one update (2 per multiply-add), counted from the dims: the teacher and the student
    /// transformer forwards, the transformer backward to its input only (frozen weights: one product per linear layer,
    /// two per attention product), and the student's forward and full backward (two products per forward one).
    /// </summary>
    public static double UpdateGflop(DistillUpdateWorkload w)
    {
        double batch = w.Batch, text = w.TextLength, image = w.LatentSize / 2 * (w.LatentSize / 2), joint = text + image;
        var t = w.Transformer;
        double d = t.InnerDim, mlp = 4 * d;
        // Linear multiply-adds per token stream and attention multiply-adds (q k^T and p v over the joint sequence).
        var doubleBlock = (image + text) * (3 * d * d + d * d + 2 * d * mlp);
        var singleBlock = joint * (3 * d * d + d * mlp + (d + mlp) * d);
        var attention = 2 * joint * joint * d;
        var embed = text * w.ProjectionDim * d + image * (t.InChannels * d + d * t.InChannels);
        var transformerLinear = batch * (t.NumLayers * doubleBlock + t.NumSingleLayers * singleBlock + embed);
        var transformerAttention = batch * (t.NumLayers + t.NumSingleLayers) * attention;
        var transformerForward = transformerLinear + transformerAttention;
        var transformerBackward = transformerLinear + 2 * transformerAttention;

        var s = w.Student;
        double sd = s.DModel, inner = s.InnerDim, ff = s.DFf, p = w.ProjectionDim;
        var studentLayer = text * (3 * sd * inner + inner * sd + (s.IsGatedAct ? 3 : 2) * sd * ff) + 2 * text * text * inner;
        var studentForward = batch * (s.NumLayers * studentLayer + text * (sd * p + p * p));
        var multiplyAdds = 2 * transformerForward + transformerBackward + 3 * studentForward;
        return 2 * multiplyAdds / 1e9;
    }

    /// <summary>GFLOP/s of a 2048x2048x2048 matrix product (the reference's peak measurement) on <paramref name="device"/>, best of three.</summary>
    public static double MatmulPeakGflops(ScalarType dtype, Device? device = null)
    {
        const long n = 2048;
        device ??= CPU;
        using var a = randn(n, n, device: device).to_type(dtype);
        using var b = randn(n, n, device: device).to_type(dtype);
        using var _ = inference_mode();
        var times = BenchmarkTimes.Measure(1, 3, () =>
        {
            using var c = a.matmul(b);
            ComputeDevice.Synchronize(device);
        });
        return 2.0 * n * n * n / 1e9 / (times.MinMs / 1000);
    }

    sealed class NoTeacher : ITeacherConditioning
    {
        public Tensor States(IReadOnlyList<string> prompts) => throw new NotSupportedException("the benchmark's teacher states are precomputed");
        public Tensor? Kept(IReadOnlyList<string> prompts) => null;
        public Tensor Pooled(IReadOnlyList<string> prompts) => throw new NotSupportedException("the benchmark zeroes the pooled vector");
    }

    sealed class SilentReporter : ITrainingReporter
    {
        public void Update(UpdateMetrics metrics) { }
        public void Validation(ValidationMetrics metrics) { }
        public void Event(TrainingEvent e) { }
    }
}
