namespace Studio.Ml.Distillation;

/// <summary>A named starting point for a run configuration (the New run form's presets).</summary>
public sealed record RunPreset(string Key, string Title, string Description, Func<RunConfig> Create);

/// <summary>
/// The run presets: the paper's three-stage recipe for FLUX.1-dev and for SD3 on a GPU node, and the toy world's runs on a CPU
/// (the default toy run and the scaling-study sizes with the naive baseline), which need no download.
/// </summary>
public static class RunPresets
{
    /// <summary>The toy teacher's T5 was trained on prompts padded to 32 tokens.</summary>
    public const int ToyTextLength = 32;

    public static readonly IReadOnlyList<RunPreset> All =
    [
        new("paper-t5-base", "Paper: T5-Base from FLUX.1-dev, three stages",
            "The paper's recipe (docs/METHOD.md): Flan-T5-Base initialisation, CompBench at 512 px, CommonText at 1024 px, then the mix; a GPU node with local FLUX.1-dev and dataset files.",
            Paper),
        new("sd3-t5-base", "SD3: T5-Base for SD3's T5 slot, three stages",
            "The paper's recipe for Stable Diffusion 3 medium: the T5 slot (text_encoder_3) distilled with classifier-free guidance, CLIP-L/G and their pooled vector kept; a GPU node with local SD3 and dataset files.",
            Sd3),
        new("toy", "Toy: CPU in 15 minutes",
            "A toy-base student from the built-in toy teacher on toy prompts of every criterion; no download, a 2-core CPU.",
            () => Toy("toy-base", "toy-base", LossKind.Vision, updates: 8000, lr: 3e-4)),
        // The learning rate per student size, from a sweep of 1e-4 to 3e-3 on the shipped toy teacher (docs/TOY-WORLD.md, *The
        // scaling study*; 3,000 updates each, the held-out vision loss at the end): the wider the student, the smaller
        // its best rate, as usual for Adam (toy-base at 1e-3 ended at 0.033, at 3e-4 at 0.008; toy-large at 1e-3 did
        // not train: 0.058 against 0.004 at 3e-4).
        new("toy-study-small", "Toy study: small student", "The scaling study's smallest student (toy-small, lr 1e-3).",
            () => Toy("toy-study-small", "toy-small", LossKind.Vision, StudyUpdates, lr: 1e-3)),
        new("toy-study-base", "Toy study: base student", "The scaling study's middle student (toy-base, lr 3e-4).",
            () => Toy("toy-study-base", "toy-base", LossKind.Vision, StudyUpdates, lr: 3e-4)),
        new("toy-study-large", "Toy study: large student", "The scaling study's largest student (toy-large, lr 3e-4).",
            () => Toy("toy-study-large", "toy-large", LossKind.Vision, StudyUpdates, lr: 3e-4)),
        new("toy-study-naive", "Toy study: naive baseline (base)",
            "The ablation: the middle student trained on embedding MSE against the teacher's T5 instead of the vision loss (at the base student's lr).",
            () => Toy("toy-study-naive", "toy-base", LossKind.Naive, StudyUpdates, lr: 3e-4)),
    ];

    public static RunPreset Find(string key) =>
        All.FirstOrDefault(p => p.Key == key) ?? throw new ArgumentException($"unknown run preset '{key}' (use {string.Join(", ", All.Select(p => p.Key))})");

    static RunConfig Paper()
    {
        const string compBench = "data/t2i-compbench/all_train.txt", commonText = "data/CommonText_Train.json";
        return new RunConfig
        {
            Name = "paper-t5-base",
            Teacher = new TeacherConfig { Pipeline = "/models/FLUX.1-dev", Dtype = "bf16" },
            Student = new StudentConfig { Preset = "base", Init = "/models/flan-t5-base" },
            Optimizer = new OptimizerConfig { GradientCheckpointing = true },
            Stages =
            [
                new StageConfig { Name = "compbench", Resolution = 512, Updates = 50_000, Prompts = [new PromptSource { Set = compBench, Category = "semantics" }] },
                new StageConfig { Name = "commontext", Resolution = 1024, Updates = 70_000, Prompts = [new PromptSource { Set = commonText, Category = "text" }] },
                new StageConfig
                {
                    Name = "all", Resolution = 512, Updates = 200_000, Prompts =
                    [
                        new PromptSource { Set = "data/laion-aesthetics-6.5.txt", Category = "image-quality" },
                        new PromptSource { Set = compBench, Category = "semantics", Repeat = 10 },
                        new PromptSource { Set = commonText, Category = "text" },
                    ],
                },
            ],
            Samples = new SampleConfig { Every = 1000, Prompts = ["a red bench and a green car", "A cat holding a sign that reads 'hello world'"], Seeds = [0, 1] },
            Validation = new ValidationConfig { Every = 500, Prompts = [new PromptSource { Set = "data/t2i-compbench/color_val.txt", Category = "semantics/colour" }] },
            Cache = new CacheConfig { Dtype = "bf16" },
            Device = "cuda",
        };
    }

    /// <summary>
    /// The paper's stages for SD3 medium: its T5 slot (`text_encoder_3`), guidance drawn from 4 to 7 (real
    /// classifier-free guidance; the pipeline's default is 7), the CLIPs' pooled vector kept as SD3 uses it, samples
    /// at the pipeline's guidance 7.
    /// </summary>
    static RunConfig Sd3()
    {
        var config = Paper();
        config.Name = "sd3-t5-base";
        config.Teacher = new TeacherConfig { Pipeline = "/models/stable-diffusion-3-medium-diffusers", Dtype = "bf16" };
        config.Text.ZeroPooled = false;
        config.Trajectory.Guidance = [4.0, 5.0, 6.0, 7.0];
        config.Samples.Guidance = 7.0;
        return config;
    }

    /// <summary>Updates of each scaling-study run: about 3 minutes each on an idle 2-core CPU.</summary>
    public const int StudyUpdates = 2000;

    /// <summary>
    /// A toy run: 64 px (the toy teacher's size), 8-step trajectories, batch 8, validation every 200 updates,
    /// checkpoints and samples every 1,000 (a quarter of a shorter run). The default run's 8,000 updates took 8.5 min
    /// end to end with `studio distill` on an idle 2-core CPU (15 updates/s), so about 15 on a busy or slower one.
    /// </summary>
    static RunConfig Toy(string name, string student, LossKind loss, int updates, double lr) => new()
    {
        Name = name,
        Teacher = new TeacherConfig { Pipeline = "toy", Dtype = "float32" },
        Student = new StudentConfig { Preset = student },
        Text = new TextConfig { MaxLength = ToyTextLength },
        Loss = loss,
        Trajectory = new TrajectoryConfig { Steps = 8 },
        Optimizer = new OptimizerConfig { Lr = lr, BatchSize = 8 },
        Stages = [new StageConfig { Name = "toy", Resolution = 64, Updates = updates, Prompts = [new PromptSource { Set = "toy:train" }] }],
        Checkpoints = new CheckpointConfig { Every = Math.Min(1000, updates / 4), Keep = 3 },
        Samples = new SampleConfig
        {
            Every = Math.Min(1000, updates / 4), Steps = 20, Seeds = [0],
            Prompts = ["a red circle and a blue square", "three small green stars", "a sign that says 'CAT'"],
        },
        Validation = new ValidationConfig { Every = 200, Prompts = [new PromptSource { Set = "toy:heldout" }], PromptsPerCategory = 8, Noises = 2 },
        Device = "cpu",
    };
}
