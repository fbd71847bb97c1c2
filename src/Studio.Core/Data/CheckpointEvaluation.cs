namespace Studio.Core.Data;

public enum EvaluationState { Queued, Running, Completed, Failed, Cancelled }

/// <summary>
/// One evaluation (the code of `studio eval`): a run's checkpoint in the teacher pipeline's T5 slot, or the teacher
/// pipeline itself (<see cref="RunId"/> and <see cref="CheckpointId"/> null), on the standard held-out prompts. A
/// toy-world teacher's images are scored on the toy criteria; any other FLUX or SD3 teacher's are measured by teacher agreement
/// alone (<see cref="Resolution"/> set: the student's |Δ| to the teacher's images). The Compare page's scaling chart plots these.
/// </summary>
public class CheckpointEvaluation
{
    public int Id { get; set; }
    /// <summary>The run whose checkpoint was evaluated; null for the teacher.</summary>
    public int? RunId { get; set; }
    /// <summary>The evaluated checkpoint (not a foreign key: the row outlives a pruned or deleted checkpoint); null for the teacher.</summary>
    public int? CheckpointId { get; set; }
    /// <summary>The checkpoint's global step (0 for the teacher).</summary>
    public long Step { get; set; }
    /// <summary>The teacher pipeline as a run YAML names it: "toy" (the built-in toy teacher) or a folder.</summary>
    public required string Pipeline { get; set; }
    /// <summary>"teacher" or "run 3 · step 400".</summary>
    public required string Encoder { get; set; }
    /// <summary>The student's size preset from the run YAML ("toy-small", "base", ...); "teacher" for the teacher's own T5.</summary>
    public string SizeLabel { get; set; } = "";
    /// <summary>The run's distillation loss from its YAML: "vision" (the paper's) or "naive" (embedding MSE); null for the teacher.</summary>
    public string? Loss { get; set; }

    public string Split { get; set; } = "heldout";
    public int PromptsPerCategory { get; set; }
    public int Seeds { get; set; }
    public int Steps { get; set; }
    public double Guidance { get; set; }
    /// <summary>
    /// Null: the toy world's evaluation (64 px, 32 tokens, every toy score). A size: teacher agreement at that many
    /// pixels a side with <see cref="MaxSequenceLength"/> T5 tokens (a FLUX.1 teacher's run: its sample resolution and text length).
    /// </summary>
    public int? Resolution { get; set; }
    /// <summary>T5 tokens per prompt of a teacher-agreement evaluation (null when <see cref="Resolution"/> is).</summary>
    public int? MaxSequenceLength { get; set; }

    public EvaluationState State { get; set; } = EvaluationState.Queued;
    public string? HangfireJobId { get; set; }
    public string? Worker { get; set; }
    /// <summary>The device the images were generated and scored on ("cpu", "cuda:0"): the worker's Studio:Device.</summary>
    public string? Device { get; set; }
    /// <summary>The dtype the images were generated in ("float32", "bfloat16"): the worker's Studio:DType; null before it was stored (float32).</summary>
    public string? DType { get; set; }
    /// <summary>What the worker is doing ("loading the teacher pipeline", "generated 25/50 images").</summary>
    public string? Activity { get; set; }
    /// <summary>Done fraction in [0, 1] over the images to generate.</summary>
    public double Progress { get; set; }
    public string? Error { get; set; }

    /// <summary>Parameters of what fills the T5 slot (the student with its projection, or the teacher's T5).</summary>
    public long? EncoderParameters { get; set; }
    /// <summary>Median milliseconds of the T5-slot encoder on one prompt on the worker that evaluated.</summary>
    public double? EncoderLatencyMs { get; set; }
    /// <summary>Fréchet distance of the image-quality prompts' images to renders of the same scenes (lower is better).</summary>
    public double? ImageQualityFrechet { get; set; }
    /// <summary>The same Fréchet distance over every generated image.</summary>
    public double? FrechetAll { get; set; }
    /// <summary>Mean semantic accuracy over the semantics/* prompts (0 to 1).</summary>
    public double? Semantics { get; set; }
    /// <summary>Mean character accuracy of the rendered words (0 to 1).</summary>
    public double? Text { get; set; }
    /// <summary>
    /// Mean |Δ| (0-255 per pixel and channel) of the student's images to the teacher's own from the same prompts and
    /// noise: how closely the distilled encoder reproduces the teacher (lower is better); null for the teacher and for
    /// evaluations stored before it was measured.
    /// </summary>
    public double? TeacherDifference { get; set; }
    /// <summary>
    /// Mean SSIM of the same images to the teacher's (1 = the teacher's image; structure weighed over colour); null for the
    /// teacher and for evaluations stored before it was measured.
    /// </summary>
    public double? TeacherSimilarity { get; set; }
    /// <summary>
    /// Mean CLIP score of the images against their prompts (100 x cosine; higher is better), the teacher's too; null when
    /// the worker had no CLIP model (Studio:ClipModel) and for evaluations stored before it was measured.
    /// </summary>
    public double? ClipScore { get; set; }
    /// <summary>Per-category scores as JSON: [{"category": "semantics/colour", "count": 10, "score": 0.8}, ...].</summary>
    public string? CategoriesJson { get; set; }
    /// <summary>
    /// 95% intervals over prompts of the scores above as JSON (<see cref="Studio.Ml.Toy.ToyIntervals"/>:
    /// {"semantics": {"low": 0.7, "high": 0.9}, ...}); each category's is in <see cref="CategoriesJson"/>. Null for
    /// evaluations stored before intervals were.
    /// </summary>
    public string? IntervalsJson { get; set; }
    /// <summary>The full JSON report (the same as `studio eval --report`), under the artifact root.</summary>
    public string? ReportPath { get; set; }
    /// <summary>
    /// The PNG of the images the evaluation kept (two prompts per category, first seed; a checkpoint's beside the
    /// teacher's), beside its report; it may not exist (evaluations stored before figures were).
    /// </summary>
    public string? FigurePath => ReportPath is null ? null : FigurePathOf(ReportPath);
    /// <summary>The figure beside a report: evaluation-ID.png next to evaluation-ID.json.</summary>
    public static string FigurePathOf(string reportPath) => Path.ChangeExtension(reportPath, ".png");
    /// <summary>A LoRA merged into the transformer (and CLIP) for the teacher's images and the student's alike; null: none.</summary>
    public string? LoraPath { get; set; }
    /// <summary>How much of <see cref="LoraPath"/> (diffusers' lora_scale).</summary>
    public double LoraScale { get; set; } = 1;
    /// <summary>Wall time of the evaluation itself.</summary>
    public double? Seconds { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }

    public bool IsTeacher => RunId is null;
    public bool IsActive => State is EvaluationState.Queued or EvaluationState.Running;
    /// <summary>Teacher agreement alone (no toy scores): a teacher outside the toy world.</summary>
    public bool IsAgreement => Resolution is not null;
    /// <summary>Evaluations are comparable only with the same prompts, seeds, sampler settings, LoRA and image size.</summary>
    public string SettingsKey => new Evaluations.EvaluationSettings(Split, PromptsPerCategory, Seeds, Steps, Guidance, LoraPath, LoraScale).Key
        + (Resolution is { } side ? $" · agreement at {side} px, {MaxSequenceLength} tokens" : "");
    /// <summary>
    /// The evaluations one chart line, one Compare choice and one CSV compare: <see cref="SettingsKey"/> and, when the
    /// worker computed in bfloat16, that dtype (its images differ from float32's, so its scores are not mixed with theirs).
    /// A queued evaluation has no dtype yet: its key is the settings'.
    /// </summary>
    public string SeriesKey => SettingsKey + (DType is null or "float32" ? "" : $" · {DType}");
}
