namespace Studio.Ml.Distillation;

/// <summary>The numbers of one optimizer update.</summary>
public sealed record UpdateMetrics
{
    public required int Stage { get; init; }
    /// <summary>Global update index (1-based, counted over all stages).</summary>
    public required long Step { get; init; }
    public required long TotalSteps { get; init; }
    public required double Loss { get; init; }
    /// <summary>Loss of this update keyed by sigma bucket label (where on the trajectory the student diverges).</summary>
    public IReadOnlyDictionary<string, double> LossBySigmaBucket { get; init; } = new Dictionary<string, double>();
    /// <summary>Loss of this update keyed by prompt category ("image-quality", "semantics/colour", "text", ...).</summary>
    public IReadOnlyDictionary<string, double> LossByCategory { get; init; } = new Dictionary<string, double>();
    public required double LearningRate { get; init; }
    public required double GradientNorm { get; init; }
    /// <summary>The gradient norm before clipping by part of the student ("embedding", "block 0", ..., "final norm", "projection"), in that order.</summary>
    public IReadOnlyDictionary<string, double> GradientNormByModule { get; init; } = new Dictionary<string, double>();
    public double UpdatesPerSecond { get; init; }
    public double PromptsPerSecond { get; init; }
    public TimeSpan Elapsed { get; init; }
    public TimeSpan? Eta { get; init; }
    public long ProcessMemoryBytes { get; init; }
    public long? CudaMemoryBytes { get; init; }
    public DateTime Time { get; init; } = DateTime.UtcNow;
}

/// <summary>Held-out validation at one step, per prompt category.</summary>
public sealed record ValidationMetrics(int Stage, long Step, IReadOnlyDictionary<string, ValidationScore> ByCategory, DateTime Time);

/// <summary>The deterministic vision loss over fixed noises/timesteps, and the cosine similarity of projected student states to teacher states.</summary>
public sealed record ValidationScore(double VisionLoss, double EmbeddingCosine);

/// <summary>
/// What a trainer reports; CheckpointRemoved: an older checkpoint deleted by `checkpoints.keep` (its path in the data);
/// CheckpointHeld: one `checkpoints.keep` would have deleted but the reporter holds (<see cref="ITrainingReporter.Holds"/>).
/// </summary>
public enum TrainingEventKind { StageStarted, CheckpointWritten, Resumed, SampleReady, Info, Warning, Error, Progress, CheckpointRemoved, StoppedEarly, CheckpointHeld }

/// <summary>Something that happened in a run: stage started, checkpoint written, resumed at step k, sample ready, ...</summary>
public sealed record TrainingEvent(
    TrainingEventKind Kind,
    int Stage,
    long Step,
    string Message,
    IReadOnlyDictionary<string, string>? Data = null)
{
    public DateTime Time { get; init; } = DateTime.UtcNow;
}

/// <summary>
/// The one path through which a trainer reports. The studio persists and streams what arrives here; the trainer
/// knows nothing of databases or SignalR. Implementations must be cheap to call once per update.
/// </summary>
public interface ITrainingReporter
{
    void Update(UpdateMetrics metrics);
    void Validation(ValidationMetrics metrics);
    void Event(TrainingEvent e);

    /// <summary>
    /// validation.prune. Asked after the validations where the run's rule asks (<see cref="Distiller.AsksToPrune"/>) with
    /// its best held-out vision loss so far; the studio compares it with the other runs of the run's group and answers why
    /// the run stops here, or null to go on. Reporters that know no other runs (the command line) never stop a run.
    /// </summary>
    string? Prune(PruneQuestion question) => null;

    /// <summary>
    /// Whether the checkpoint folder <paramref name="checkpoint"/> is still needed outside the trainer (the studio: an
    /// evaluation of it queued or running), so checkpoints.keep leaves it for a later prune. The command line holds none.
    /// </summary>
    bool Holds(string checkpoint) => false;
}

/// <summary>
/// What validation.prune asks the studio at step <paramref name="Step"/>: <paramref name="Rule"/> (median or halving,
/// with <paramref name="Factor"/>, validation.prune_factor) and the run's best held-out vision loss so far.
/// </summary>
public sealed record PruneQuestion(string Rule, int Factor, long Step, double Best);
