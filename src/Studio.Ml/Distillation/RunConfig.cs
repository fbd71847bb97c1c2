using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Studio.Ml.Distillation;

/// <summary>
/// One distillation run, as `studio distill --config RUN.yaml` reads it and the web form imports/exports it.
/// Every field has the paper's default (docs/METHOD.md); docs/DISTILLATION.md, "Run YAML", documents the schema.
/// </summary>
public sealed class RunConfig
{
    public string Name { get; set; } = "run";
    /// <summary>Seeds weights of a random student, the projection, noise, guidance draws and the data order.</summary>
    public int Seed { get; set; } = 0;
    public TeacherConfig Teacher { get; set; } = new();
    public StudentConfig Student { get; set; } = new();
    public TextConfig Text { get; set; } = new();
    /// <summary>vision (the paper's loss) or naive (MSE between projected student and teacher states, the ablation).</summary>
    public LossKind Loss { get; set; } = LossKind.Vision;
    public TrajectoryConfig Trajectory { get; set; } = new();
    public OptimizerConfig Optimizer { get; set; } = new();
    public List<StageConfig> Stages { get; set; } = [];
    public CheckpointConfig Checkpoints { get; set; } = new();
    public SampleConfig Samples { get; set; } = new();
    public ValidationConfig Validation { get; set; } = new();
    public CacheConfig Cache { get; set; } = new();
    /// <summary>"cpu" or "cuda" (or "cuda:N").</summary>
    public string Device { get; set; } = "cpu";
    /// <summary>CPU threads for LibTorch; 0 = LibTorch's default.</summary>
    public int Threads { get; set; } = 0;

    [YamlIgnore]
    public long TotalUpdates => Stages.Sum(s => s.Updates);

    static readonly IDeserializer Reader = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithEnumNamingConvention(LowerCaseNamingConvention.Instance)
        .Build();

    static readonly ISerializer Writer = new SerializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithEnumNamingConvention(LowerCaseNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull)
        .Build();

    /// <summary>Parses run YAML; unknown keys, values of the wrong kind and syntax errors are reported by field and line (<see cref="YamlShape"/>).</summary>
    public static RunConfig FromYaml(string yaml, string source = "run YAML")
    {
        if (YamlShape.Problems(yaml, typeof(RunConfig)) is { Count: > 0 } problems) throw new RunConfigException(source, problems);
        try
        {
            return Reader.Deserialize<RunConfig>(yaml) ?? throw new RunConfigException(source, [new YamlProblem("", 1, "the document is empty")]);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            // What the shape check lets through and the deserializer still refuses (a form of number YamlDotNet does not read).
            throw new RunConfigException(source, [new YamlProblem("", e.Start.Line, "a value cannot be read here")]);
        }
    }

    public static RunConfig Load(string path)
    {
        if (!File.Exists(path)) throw new RunConfigException(path, "file not found");
        var config = FromYaml(File.ReadAllText(path), path);
        config.BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(path));
        return config;
    }

    public string ToYaml() => Writer.Serialize(this);

    /// <summary>Relative paths in the config resolve against this folder (the YAML file's folder), else the current directory.</summary>
    [YamlIgnore]
    public string? BaseDirectory { get; set; }

    public string ResolvePath(string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(BaseDirectory ?? Directory.GetCurrentDirectory(), path));
}

public sealed class RunConfigException(string source, string fault) : Exception($"{source}: {fault}")
{
    /// <summary>The faults of a document that cannot be read, by field and line (empty for other faults).</summary>
    public IReadOnlyList<YamlProblem> Problems { get; private init; } = [];

    public RunConfigException(string source, IReadOnlyList<YamlProblem> problems) : this(source, string.Join("; ", problems)) => Problems = problems;
}

public sealed class TeacherConfig
{
    /// <summary>A diffusers pipeline folder (model_index.json, transformer/, text_encoder_2/, tokenizer_2/, ...), or "toy" for the built-in toy teacher.</summary>
    public string Pipeline { get; set; } = "toy";
    /// <summary>Compute dtype of the frozen transformer: float32, bf16 or fp16.</summary>
    public string Dtype { get; set; } = "float32";
}

public sealed class StudentConfig
{
    /// <summary>small, base, large, xl (Flan-T5 sizes), a toy size (toy-small, toy-base, toy-large), or custom.</summary>
    public string Preset { get; set; } = "base";
    /// <summary>A pretrained T5 folder to start from (the paper's default), or null for random initialisation.</summary>
    public string? Init { get; set; }
    /// <summary>For preset "custom" (or to override a preset).</summary>
    public int? DModel { get; set; }
    public int? NumLayers { get; set; }
    public int? NumHeads { get; set; }
    public int? DKv { get; set; }
    public int? DFf { get; set; }
    /// <summary>Dropout inside the projection MLP.</summary>
    public double ProjectionDropout { get; set; } = 0.1;
}

public sealed class TextConfig
{
    /// <summary>Tokens per prompt in training (padded/truncated); the paper uses 77.</summary>
    public int MaxLength { get; set; } = 77;
    /// <summary>Pass an attention mask to the encoders; the paper (and FluxPipeline) do not.</summary>
    public bool AttentionMask { get; set; } = false;
    /// <summary>Zero the pooled CLIP vector in both passes, as the paper does.</summary>
    public bool ZeroPooled { get; set; } = true;
}

public sealed class TrajectoryConfig
{
    /// <summary>Steps of the teacher's trajectory per batch (each can be an update).</summary>
    public int Steps { get; set; } = 20;
    /// <summary>Trajectory step indices that are updates; empty = all.</summary>
    public List<int> UpdateSteps { get; set; } = [];
    /// <summary>Update at every k-th eligible step (1 = every step).</summary>
    public int UpdateEvery { get; set; } = 1;
    /// <summary>Embedded guidance values, one drawn uniformly per batch.</summary>
    public List<double> Guidance { get; set; } = [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0];
}

public sealed class OptimizerConfig
{
    public double Lr { get; set; } = 1e-4;
    public double Beta1 { get; set; } = 0.9;
    public double Beta2 { get; set; } = 0.999;
    public double Eps { get; set; } = 1e-8;
    public double WeightDecay { get; set; } = 1e-3;
    public double GradClip { get; set; } = 1.0;
    /// <summary>"constant" or "cosine" (linear warm-up then cosine decay to 0 over the stage).</summary>
    public string Schedule { get; set; } = "constant";
    public int WarmupUpdates { get; set; } = 0;
    public int BatchSize { get; set; } = 4;
    /// <summary>Micro-batches accumulated per update.</summary>
    public int GradAccumulation { get; set; } = 1;
    /// <summary>Recompute the frozen transformer's activations in backward to save memory (GPU runs).</summary>
    public bool GradientCheckpointing { get; set; } = false;
    /// <summary>
    /// Decay of an exponential moving average of the student's weights (0 = none; 0.999 is usual): validation, samples
    /// and every checkpoint's student (so export, Generate and evaluation) use the average; training goes on from the
    /// live weights.
    /// </summary>
    public double Ema { get; set; }
    /// <summary>
    /// The average follows the weights exactly up to this update and averages after it, its warm-up counted from there
    /// (diffusers' update_after_step): the first updates' weights, far from where training goes, are not carried along.
    /// </summary>
    public long EmaStart { get; set; }
}

public sealed class StageConfig
{
    public string Name { get; set; } = "stage";
    public List<PromptSource> Prompts { get; set; } = [];
    /// <summary>Image resolution in pixels (square); sets the latent size and the schedule's shift.</summary>
    public int Resolution { get; set; } = 512;
    public long Updates { get; set; } = 1000;
    /// <summary>Overrides optimizer.lr for this stage.</summary>
    public double? Lr { get; set; }
}

public sealed class PromptSource
{
    /// <summary>A prompt file (txt, json, jsonl, csv) or a built-in set name such as "toy:train".</summary>
    public string Set { get; set; } = "";
    /// <summary>Relative sampling weight of this set within the stage's mix.</summary>
    public double Weight { get; set; } = 1.0;
    /// <summary>How many times the set is repeated in the mix (the paper repeats CompBench x10 in stage 3).</summary>
    public int Repeat { get; set; } = 1;
    /// <summary>Category for prompts that carry none (image-quality, semantics/..., text).</summary>
    public string? Category { get; set; }
}

public sealed class CheckpointConfig
{
    public long Every { get; set; } = 1000;
    /// <summary>Keep the newest N checkpoints (0 = keep all).</summary>
    public int Keep { get; set; } = 3;
    /// <summary>
    /// Also keep the checkpoint with the lowest held-out vision loss (the mean over categories of the validation run at
    /// its step), however old: the student to export. Needs validation at checkpoint steps.
    /// </summary>
    public bool KeepBest { get; set; }
}

public sealed class SampleConfig
{
    public long Every { get; set; } = 1000;
    public List<string> Prompts { get; set; } = [];
    public List<int> Seeds { get; set; } = [0];
    public int Steps { get; set; } = 20;
    public double Guidance { get; set; } = 3.5;
    /// <summary>Sample resolution in pixels; 0 = the stage's resolution.</summary>
    public int Resolution { get; set; } = 0;
}

public sealed class ValidationConfig
{
    public long Every { get; set; } = 500;
    /// <summary>Held-out prompt sets (same forms as stage prompts).</summary>
    public List<PromptSource> Prompts { get; set; } = [];
    /// <summary>Prompts used per category.</summary>
    public int PromptsPerCategory { get; set; } = 8;
    /// <summary>Fixed (noise, sigma) pairs per prompt.</summary>
    public int Noises { get; set; } = 2;
    /// <summary>Stop the run when the held-out vision loss has not gone below its best for this many validations in a row (0 = never).</summary>
    public int Patience { get; set; }
    /// <summary>
    /// Stopping a run that falls behind the other runs of its group (a sweep): "median" stops it at a validation where its
    /// best held-out vision loss is worse than the median of the best ones of the others at that step (at least 3 of
    /// them); "halving" (successive halving, asynchronous as in ASHA) keeps it at its 3rd, 3·f-th, 3·f²-th ... validation
    /// only among the best 1/f (<see cref="PruneFactor"/>) of the group's runs that got that far; "none" (the default): never.
    /// </summary>
    public string Prune { get; set; } = "none";
    /// <summary>validation.prune: halving keeps the best 1/prune_factor of the runs at each rung (Hyperband's eta).</summary>
    public int PruneFactor { get; set; } = 3;
    /// <summary>The rules of <see cref="Prune"/>.</summary>
    public static readonly IReadOnlyList<string> PruneRules = ["none", "median", "halving"];
}

public sealed class CacheConfig
{
    /// <summary>Folder of the teacher-embedding cache; null = the studio's default (data/cache/teacher-embeddings).</summary>
    public string? Directory { get; set; }
    /// <summary>Storage dtype of cached states: float32 or bf16.</summary>
    public string Dtype { get; set; } = "float32";
}
