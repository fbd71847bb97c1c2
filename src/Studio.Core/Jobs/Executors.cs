using Studio.Ml.Distillation;

namespace Studio.Core.Jobs;

/// <summary>What a worker needs to execute one run.</summary>
/// <param name="ConfigYaml">The run configuration, the same YAML `studio distill --config` reads.</param>
/// <param name="ArtifactFolder">Where the run writes checkpoints, samples and its log (exists, writable).</param>
/// <param name="ResumeCheckpoint">The checkpoint to resume from (a resume or a fork), or null to start fresh.</param>
public sealed record RunExecution(int RunId, string ConfigYaml, string ArtifactFolder, string? ResumeCheckpoint);

/// <summary>
/// Executes a run on this worker: the trainer integration implements it. It reports everything through the
/// reporter and returns when the run is complete; it throws OperationCanceledException when <paramref name="ct"/>
/// is cancelled (after writing a checkpoint) and any other exception when the run fails.
/// </summary>
public interface IRunExecutor
{
    Task ExecuteAsync(RunExecution run, ITrainingReporter reporter, CancellationToken ct);
}

/// <summary>
/// One encoder of a generation in the T5 slot: the teacher's own (<paramref name="EncoderPath"/> null), a training
/// checkpoint folder, or an exported student folder.
/// </summary>
public sealed record GenerationEncoder(int ImageId, string Label, string? EncoderPath);

/// <param name="TeacherFolder">The teacher pipeline folder; null: the built-in toy teacher.</param>
/// <param name="Device">Where to compute ("cpu", "cuda:0"): the worker's Studio:Device.</param>
/// <param name="FreeTextEncoders">Free the teacher's text encoders once the prompt is encoded (Studio:FreeTextEncoders).</param>
/// <param name="TrueCfgScale">True classifier-free guidance against <paramref name="NegativePrompt"/> above 1 (1: off).</param>
/// <param name="DType">What the pipeline and the students compute in ("float32", "bfloat16"): the worker's Studio:DType.</param>
/// <param name="ClipModel">The CLIP model folder that scores each image against the prompt (the worker's Studio:ClipModel; null: no CLIP score).</param>
/// <param name="Lora">A LoRA of the transformer (and CLIP) merged for every image, at <paramref name="LoraScale"/> (null: none).</param>
public sealed record GenerationExecution(int GenerationId, string Prompt, long Seed, int Steps, double Guidance,
    int Width, int Height, string? TeacherFolder, IReadOnlyList<GenerationEncoder> Encoders, string OutputFolder,
    string Device = "cpu", bool FreeTextEncoders = false, double TrueCfgScale = 1, string NegativePrompt = "", string DType = "float32",
    string? ClipModel = null, string? Lora = null, double LoraScale = 1);

/// <summary>One encoder's outcome, reported as soon as it is known: its PNG (with its CLIP score against the prompt when asked for one), or why it has none.</summary>
public sealed record GeneratedImage(int ImageId, string? PngPath, TimeSpan Duration, string? Error = null, double? ClipScore = null);

/// <summary>Renders a generation with every selected encoder on the same noise: the pipelines' integration implements it.</summary>
public interface IGenerationExecutor
{
    /// <summary>
    /// Reports each image through <paramref name="imageReady"/> as it finishes (an encoder that cannot be loaded is
    /// reported with its error, and the others still run); throws OperationCanceledException when cancelled and any
    /// other exception when nothing can be rendered (the teacher pipeline does not load).
    /// </summary>
    Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, IProgress<JobProgress> progress, CancellationToken ct);
}

/// <summary>Exports a checkpoint as a DistillT5-layout folder or a T5EncoderModel folder plus projection: the trainer integration implements it.</summary>
public interface ICheckpointExporter
{
    Task ExportAsync(string checkpointPath, string format, string outputFolder, CancellationToken ct);
}

/// <summary>
/// One evaluation: the teacher pipeline folder and, in its T5 slot, a checkpoint (null: the teacher's own T5), scored
/// (or measured by teacher agreement) with <paramref name="Options"/> by the code of `studio eval` on <paramref name="Device"/> (the worker's Studio:Device).
/// </summary>
/// <param name="TeacherImages">Where the worker keeps the teacher's images of evaluations (<see cref="Studio.Ml.Toy.TeacherImageStore"/>; null: nowhere).</param>
/// <param name="SamplesFolder">Where the evaluation writes the images it keeps to be looked at (<see cref="Studio.Ml.Toy.ToyEvaluationResult.Samples"/>; null: none).</param>
/// <param name="DType">What the pipeline and the student compute in ("float32", "bfloat16"): the worker's Studio:DType.</param>
/// <param name="ClipModel">The CLIP model folder that scores each image against its prompt (the worker's Studio:ClipModel; null: no CLIP score).</param>
/// <param name="Lora">A LoRA merged into the transformer (and CLIP) for the teacher's images and the student's, at <paramref name="LoraScale"/> (null: none).</param>
public sealed record EvaluationExecution(int EvaluationId, string TeacherFolder, string? CheckpointPath, Studio.Ml.Toy.ToyEvaluationOptions Options,
    string Device = "cpu", string? TeacherImages = null, string DType = "float32", string? SamplesFolder = null, string? ClipModel = null,
    string? Lora = null, double LoraScale = 1);

/// <summary>Evaluates a checkpoint (or the teacher) on the standard prompts: the toy evaluator's integration implements it.</summary>
public interface IEvaluationExecutor
{
    /// <summary>Returns the result; throws OperationCanceledException when cancelled and any other exception when the evaluation fails.</summary>
    Task<Studio.Ml.Toy.ToyEvaluationResult> ExecuteAsync(EvaluationExecution evaluation, IProgress<JobProgress> progress, CancellationToken ct);
}
