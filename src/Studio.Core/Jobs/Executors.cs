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

/// <summary>One encoder of a generation: the teacher's own (CheckpointPath null) or a student checkpoint.</summary>
public sealed record GenerationEncoder(int ImageId, string Label, string? CheckpointPath);

public sealed record GenerationExecution(int GenerationId, string Prompt, long Seed, int Steps, double Guidance,
    int Width, int Height, string? TeacherFolder, IReadOnlyList<GenerationEncoder> Encoders, string OutputFolder);

/// <summary>The result of one encoder's image, reported as soon as it is written.</summary>
public sealed record GeneratedImage(int ImageId, string PngPath, TimeSpan Duration);

/// <summary>Renders a generation with every selected encoder on the same noise: the pipelines' integration implements it.</summary>
public interface IGenerationExecutor
{
    Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, CancellationToken ct);
}

/// <summary>Exports a checkpoint as a DistillT5-layout folder or a T5EncoderModel folder plus projection: the trainer integration implements it.</summary>
public interface ICheckpointExporter
{
    Task ExportAsync(string checkpointPath, string format, string outputFolder, CancellationToken ct);
}

/// <summary>The generation slot's occupant until the image pipelines are part of the build: it says so and fails.</summary>
public sealed class NotInstalledExecutors : IGenerationExecutor
{
    public const string PipelinesMissing = "the image pipelines are not installed in this build";

    public Task ExecuteAsync(GenerationExecution generation, Func<GeneratedImage, Task> imageReady, CancellationToken ct) =>
        throw new NotSupportedException(PipelinesMissing);
}
