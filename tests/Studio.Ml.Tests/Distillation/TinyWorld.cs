using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Distillation;

/// <summary>Fixture-sized random components for trainer tests: a FLUX-layout transformer, a teacher T5, a student.</summary>
public sealed class TinyWorld : IDisposable
{
    public const int MaxLength = 6;
    public const int Vocab = 64;
    public static readonly T5Config TeacherT5 = new(Vocab, 32, 8, 4, 64, 2, 8, 16, 1e-6, 0.0, "gelu_new", true);
    public static readonly T5Config StudentT5 = new(Vocab, 16, 8, 2, 32, 1, 8, 16, 1e-6, 0.1, "gelu_new", true);
    public static readonly FluxTransformerConfig Transformer = new(PatchSize: 1, InChannels: 16, NumLayers: 1, NumSingleLayers: 1,
        AttentionHeadDim: 8, NumAttentionHeads: 2, JointAttentionDim: 32, PooledProjectionDim: 8, GuidanceEmbeds: true, AxesDimsRope: [2, 2, 4]);

    public static readonly string[] Prompts =
    [
        "a red circle", "a blue square", "two green stars", "a sign that says cat", "a yellow triangle left of a red circle",
        "three blue squares", "a purple cross", "a sign that says dog",
    ];

    public string Directory { get; } = TestPaths.NewTempDirectory("tiny-world");
    public TeacherEmbeddingCache Cache { get; }
    public T5Encoder Teacher { get; }
    public FluxTransformer FluxModel { get; }
    public int TeacherEncodings { get; private set; }

    public TinyWorld()
    {
        TorchRuntime.Initialise();
        manual_seed(1234);
        Teacher = T5Encoder.Create(TeacherT5);
        Teacher.InitialiseLikeTransformers();
        FluxModel = new FluxTransformer(Transformer);
        FluxModel.eval();
        Cache = new TeacherEmbeddingCache(Path.Combine(Directory, "cache"));
    }

    /// <summary>Word-hash token ids (the same in every process: string.GetHashCode is not) padded to MaxLength with an EOS of 1, like a real tokenizer's layout.</summary>
    public static (Tensor Ids, Tensor Mask) Tokenize(IReadOnlyList<string> prompts, int maxLength)
    {
        var ids = new long[prompts.Count, maxLength];
        var mask = new long[prompts.Count, maxLength];
        for (int b = 0; b < prompts.Count; b++)
        {
            var words = prompts[b].Split(' ').Take(maxLength - 1).ToList();
            for (int i = 0; i < words.Count; i++) { ids[b, i] = 3 + DeterministicRandom.Seed(0, words[i]) % (Vocab - 3); mask[b, i] = 1; }
            ids[b, words.Count] = 1;
            mask[b, words.Count] = 1;
        }
        return (tensor(ids), tensor(mask));
    }

    public CachedTeacher FilledTeacher()
    {
        var teacher = new CachedTeacher(Cache, "tiny-teacher", "word-hash", MaxLength);
        teacher.Fill(Prompts, batch =>
        {
            TeacherEncodings += batch.Count;
            var (ids, _) = Tokenize(batch, MaxLength);
            using (ids) using (no_grad()) return Teacher.forward(ids);
        }, ScalarType.Float32);
        return teacher;
    }

    public static RunConfig Config(LossKind loss = LossKind.Vision, long updates = 12, long checkpointEvery = 1000) => new()
    {
        Name = "tiny",
        Seed = 7,
        Loss = loss,
        Text = new TextConfig { MaxLength = MaxLength },
        Trajectory = new TrajectoryConfig { Steps = 4 },
        Optimizer = new OptimizerConfig { Lr = 1e-3, BatchSize = 2 },
        Stages = [new StageConfig { Name = "only", Prompts = [new PromptSource { Set = "tiny" }], Resolution = 32, Updates = updates }],
        Checkpoints = new CheckpointConfig { Every = checkpointEvery, Keep = 0 },
        Samples = new SampleConfig { Every = 0 },
        Validation = new ValidationConfig { Every = 0 },
    };

    public StudentEncoder NewStudent(int seed = 7) => StudentEncoder.Create(StudentT5, projectionDim: 32, projectionDropout: 0.1, seed: seed);

    public DistillationContext Context(StudentEncoder student, ITeacherConditioning teacher) => new()
    {
        Denoiser = new FrozenFlux(FluxModel, FlowMatchSchedulerConfig.Flux),
        Student = student,
        Tokenize = Tokenize,
        Teacher = teacher,
        Prompts = _ => Prompts.Select((p, i) => new Prompt(p, i % 2 == 0 ? "semantics" : "text")).ToList(),
    };

    public void Dispose()
    {
        Cache.Dispose();
        Teacher.Dispose();
        FluxModel.Dispose();
    }
}

/// <summary>Collects what a trainer reports, for assertions.</summary>
public sealed class RecordingReporter : ITrainingReporter
{
    public List<UpdateMetrics> Updates { get; } = [];
    public List<ValidationMetrics> Validations { get; } = [];
    public List<TrainingEvent> Events { get; } = [];
    public Action<UpdateMetrics>? OnUpdate { get; set; }
    public void Update(UpdateMetrics metrics) { Updates.Add(metrics); OnUpdate?.Invoke(metrics); }
    public void Validation(ValidationMetrics metrics) => Validations.Add(metrics);
    public void Event(TrainingEvent e) => Events.Add(e);
    /// <summary>What the studio would answer to validation.prune; each question is recorded in <see cref="PruneAsked"/>.</summary>
    public Func<PruneQuestion, string?>? PruneWith { get; set; }
    public List<PruneQuestion> PruneAsked { get; } = [];
    public string? Prune(PruneQuestion question)
    {
        PruneAsked.Add(question);
        return PruneWith?.Invoke(question);
    }
    /// <summary>Which checkpoint folders the studio would still need (checkpoints.keep leaves them).</summary>
    public Func<string, bool>? HoldWith { get; set; }
    public bool Holds(string checkpoint) => HoldWith?.Invoke(checkpoint) ?? false;
}
