using Studio.Ml.Models.Common;
using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>diffusers `FlowMatchEulerDiscreteScheduler` configuration (`scheduler/scheduler_config.json`).</summary>
public sealed record FlowMatchSchedulerConfig(
    int NumTrainTimesteps = 1000,
    double Shift = 1.0,
    bool UseDynamicShifting = false,
    double BaseShift = 0.5,
    double MaxShift = 1.15,
    int BaseImageSeqLen = 256,
    int MaxImageSeqLen = 4096)
{
    /// <summary>FLUX.1-dev and -schnell: the shift follows the image token count.</summary>
    public static FlowMatchSchedulerConfig Flux { get; } = new(Shift: 3.0, UseDynamicShifting: true);

    /// <summary>Stable Diffusion 3: a static shift of 3.0.</summary>
    public static FlowMatchSchedulerConfig Sd3 { get; } = new(Shift: 3.0);

    public static FlowMatchSchedulerConfig Load(string path) => From(ModelConfig.Load(path));

    public static FlowMatchSchedulerConfig From(ModelConfig json)
    {
        var config = new FlowMatchSchedulerConfig(
            json.Int("num_train_timesteps", 1000),
            json.Double("shift", 1.0),
            json.Bool("use_dynamic_shifting", false),
            json.Double("base_shift", 0.5),
            json.Double("max_shift", 1.15),
            json.Int("base_image_seq_len", 256),
            json.Int("max_image_seq_len", 4096));
        if (config.NumTrainTimesteps < 1) throw json.Invalid("num_train_timesteps", $"must be positive, found {config.NumTrainTimesteps}");
        if (config.Shift <= 0) throw json.Invalid("shift", $"must be positive, found {config.Shift}");
        if (config.UseDynamicShifting && config.MaxImageSeqLen == config.BaseImageSeqLen)
            throw json.Invalid("max_image_seq_len", "must differ from base_image_seq_len for dynamic shifting");
        return config;
    }
}

/// <summary>
/// One sampling schedule: n timesteps and n+1 sigmas (the last is 0), both float32 as diffusers stores them, and the
/// Euler update between consecutive sigmas.
/// </summary>
public sealed class FlowMatchSchedule(float[] sigmas, float[] timesteps)
{
    /// <summary>Noise levels, n+1 entries ending with 0.</summary>
    public IReadOnlyList<float> Sigmas { get; } = sigmas;

    /// <summary>sigma * num_train_timesteps, n entries (the transformer is called with timestep / 1000).</summary>
    public IReadOnlyList<float> Timesteps { get; } = timesteps;

    public int Steps => Timesteps.Count;

    /// <summary>
    /// The Euler step from sigma_i to sigma_{i+1}: x + (sigma_{i+1} - sigma_i) * v. As in diffusers, the sample is
    /// upcast to float32 for the addition and the result has the model output's dtype.
    /// </summary>
    public Tensor Step(Tensor modelOutput, int stepIndex, Tensor sample)
    {
        if (stepIndex < 0 || stepIndex >= Steps)
            throw new ArgumentOutOfRangeException(nameof(stepIndex), $"step {stepIndex} is outside this {Steps}-step schedule");
        using var scope = NewDisposeScope();
        var delta = Sigmas[stepIndex + 1] - Sigmas[stepIndex];
        var next = sample.to_type(ScalarType.Float32) + modelOutput.mul(delta);
        return next.to_type(modelOutput.dtype).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers `FlowMatchEulerDiscreteScheduler` (0.31) and the schedules built on it: FluxPipeline's inference
/// schedule, the step-following distillation schedule (DistillT5's `set_timesteps(n, mu)`), and SD3's static shift.
/// Sigmas are computed in float64 as numpy does, then stored as float32; timesteps are float32 sigma * 1000.
/// </summary>
public sealed class FlowMatchEulerScheduler(FlowMatchSchedulerConfig config)
{
    public FlowMatchSchedulerConfig Config { get; } = config;

    /// <summary>FluxPipeline's `calculate_shift`: mu linear in the image token count between (base, base_shift) and (max, max_shift).</summary>
    public static double CalculateShift(int imageSeqLen, int baseSeqLen, int maxSeqLen, double baseShift, double maxShift)
    {
        var m = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
        var b = baseShift - m * baseSeqLen;
        return imageSeqLen * m + b;
    }

    /// <summary>mu for an image of this many packed tokens, from this scheduler's configuration.</summary>
    public double Mu(int imageSeqLen) =>
        CalculateShift(imageSeqLen, Config.BaseImageSeqLen, Config.MaxImageSeqLen, Config.BaseShift, Config.MaxShift);

    /// <summary>FluxPipeline's `np.linspace(1.0, 1 / n, n)`.</summary>
    public static double[] PipelineSigmas(int steps)
    {
        RequirePositive(steps);
        return Linspace(1.0, 1.0 / steps, steps);
    }

    /// <summary>FluxPipeline's inference schedule: linspace(1, 1/n, n), time-shifted by mu of the image token count.</summary>
    public FlowMatchSchedule FluxInference(int steps, int imageSeqLen) => SetTimesteps(PipelineSigmas(steps), MuIfDynamic(imageSeqLen));

    /// <summary>
    /// The step-following distillation schedule (docs/METHOD.md; DistillT5 calls `set_timesteps(n, mu=mu)`):
    /// linspace(sigma_max, sigma_min, n) of the scheduler's training table, i.e. linspace(1.0, 0.001, n) for FLUX,
    /// shifted (dynamically by mu, or statically), then a final 0.
    /// </summary>
    public FlowMatchSchedule DistillationTraining(int steps, int imageSeqLen) => SetTimesteps(DefaultSigmas(steps), MuIfDynamic(imageSeqLen));

    /// <summary>The StableDiffusion3Pipeline schedule: `set_timesteps(n)` with the configured static shift (3.0 for SD3).</summary>
    public FlowMatchSchedule Sd3Inference(int steps)
    {
        if (Config.UseDynamicShifting)
            throw new InvalidOperationException("SD3's schedule uses a static shift, but this scheduler is configured with use_dynamic_shifting");
        return SetTimesteps(DefaultSigmas(steps), null);
    }

    /// <summary>
    /// `set_timesteps(sigmas=..., mu=...)`: applies the exponential time shift sigma' = e^mu / (e^mu + (1/sigma - 1))
    /// when dynamic shifting is configured, else the static shift s*sigma / (1 + (s-1)*sigma); appends the final 0.
    /// </summary>
    public FlowMatchSchedule SetTimesteps(IReadOnlyList<double> sigmas, double? mu)
    {
        if (sigmas.Count == 0) throw new ArgumentException("a schedule needs at least one sigma", nameof(sigmas));
        if (Config.UseDynamicShifting && mu is null)
            throw new ArgumentException("this scheduler uses dynamic shifting: mu (from the image token count) is required", nameof(mu));
        var shifted = new float[sigmas.Count + 1];
        var timesteps = new float[sigmas.Count];
        for (int i = 0; i < sigmas.Count; i++)
        {
            var sigma = sigmas[i];
            var value = Config.UseDynamicShifting
                ? Math.Exp(mu!.Value) / (Math.Exp(mu.Value) + (1 / sigma - 1))
                : Config.Shift * sigma / (1 + (Config.Shift - 1) * sigma);
            shifted[i] = (float)value;
            timesteps[i] = shifted[i] * Config.NumTrainTimesteps;
        }
        shifted[^1] = 0f;
        return new FlowMatchSchedule(shifted, timesteps);
    }

    /// <summary>
    /// `set_timesteps(n)` without explicit sigmas: linspace(sigma_max * N, sigma_min * N, n) / N over the training table
    /// built at construction (float32 sigmas 1..1/N, statically shifted unless shifting is dynamic).
    /// </summary>
    double[] DefaultSigmas(int steps)
    {
        RequirePositive(steps);
        var n = Config.NumTrainTimesteps;
        var sigmaMax = TableSigma(1f);
        var sigmaMin = TableSigma(1f / n);
        return Linspace(sigmaMax * n, sigmaMin * n, steps).Select(t => t / n).ToArray();
    }

    /// <summary>One entry of the construction-time table, computed in float32 as diffusers does with torch.</summary>
    double TableSigma(float sigma)
    {
        if (Config.UseDynamicShifting) return sigma;
        var shift = (float)Config.Shift;
        return shift * sigma / (1 + (shift - 1) * sigma);
    }

    double? MuIfDynamic(int imageSeqLen)
    {
        if (imageSeqLen < 1) throw new ArgumentOutOfRangeException(nameof(imageSeqLen), $"the image token count must be positive, found {imageSeqLen}");
        return Config.UseDynamicShifting ? Mu(imageSeqLen) : null;
    }

    static void RequirePositive(int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"the number of steps must be positive, found {steps}");
    }

    /// <summary>numpy.linspace in float64: start + i * step, with the last value exactly stop.</summary>
    static double[] Linspace(double start, double stop, int count)
    {
        var values = new double[count];
        if (count == 1) { values[0] = start; return values; }
        var step = (stop - start) / (count - 1);
        for (int i = 0; i < count; i++) values[i] = start + i * step;
        values[^1] = stop;
        return values;
    }
}
