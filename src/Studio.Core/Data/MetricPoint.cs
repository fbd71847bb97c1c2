namespace Studio.Core.Data;

/// <summary>
/// The numbers of one optimizer update of a run. (RunId, Stage, Step) is unique: ingestion upserts on it, so a
/// retried or re-delivered batch never duplicates a point. The per-bucket and per-category losses are JSON objects
/// (label to loss) because their labels depend on the run's configuration.
/// </summary>
public class MetricPoint
{
    public long Id { get; set; }
    public int RunId { get; set; }
    public int Stage { get; set; }
    public long Step { get; set; }
    public DateTime Time { get; set; }
    public double ElapsedSeconds { get; set; }
    /// <summary>Null when the trainer reported a non-finite value (NaN or infinity): the divergence stays visible as a gap.</summary>
    public double? Loss { get; set; }
    public double LearningRate { get; set; }
    public double? GradientNorm { get; set; }
    public double UpdatesPerSecond { get; set; }
    public double PromptsPerSecond { get; set; }
    public long ProcessMemoryBytes { get; set; }
    public long? CudaMemoryBytes { get; set; }
    /// <summary>{"0.0-0.2": 0.12, ...}: loss by sigma bucket.</summary>
    public string? LossBySigmaBucketJson { get; set; }
    /// <summary>{"semantics/colour": 0.3, ...}: loss by prompt category.</summary>
    public string? LossByCategoryJson { get; set; }
    /// <summary>{"embedding": 0.01, "block 0": 0.2, ..., "projection": 0.5}: the gradient norm before clipping by part of the student, in that order.</summary>
    public string? GradNormByModuleJson { get; set; }
}

/// <summary>Held-out validation of one run at one step for one prompt category; unique on (RunId, Stage, Step, Category).</summary>
public class ValidationPoint
{
    public long Id { get; set; }
    public int RunId { get; set; }
    public int Stage { get; set; }
    public long Step { get; set; }
    public required string Category { get; set; }
    public DateTime Time { get; set; }
    public double? VisionLoss { get; set; }
    public double? EmbeddingCosine { get; set; }
}

/// <summary>One line of a run's log: stage started, checkpoint written, resumed at step k, sample ready, warning, error.</summary>
public class RunEvent
{
    public long Id { get; set; }
    public int RunId { get; set; }
    /// <summary>The trainer's TrainingEventKind name, or a studio kind ("Queued", "Cancelled", ...).</summary>
    public required string Kind { get; set; }
    public int Stage { get; set; }
    public long Step { get; set; }
    public required string Message { get; set; }
    public string? DataJson { get; set; }
    public DateTime Time { get; set; }
}
