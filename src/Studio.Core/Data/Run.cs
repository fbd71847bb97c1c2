namespace Studio.Core.Data;

public enum RunState { Queued, Running, Stopping, Completed, Failed, Cancelled }

/// <summary>One distillation run: its configuration (the run YAML) and where it is.</summary>
public class Run
{
    public const int MaxNotesLength = 4000;

    public int Id { get; set; }
    public required string Name { get; set; }
    /// <summary>What the researcher wrote about the run (hypothesis, what changed, what was seen); null when none.</summary>
    public string? Notes { get; set; }
    /// <summary>The group the run belongs to (a sweep's name, or one the researcher gave); null when none.</summary>
    public string? Group { get; set; }
    public RunState State { get; set; } = RunState.Queued;
    /// <summary>The run configuration in the same YAML `studio distill --config` reads.</summary>
    public string ConfigYaml { get; set; } = "";
    /// <summary>The Hangfire queue the run was enqueued on ("default", "cpu", "gpu-80g", ...).</summary>
    public string Queue { get; set; } = "default";
    public string? HangfireJobId { get; set; }
    public string? Worker { get; set; }
    public int Stage { get; set; }
    /// <summary>What the run is doing right now ("queued", "loading weights", "filling cache", "training", "exporting").</summary>
    public string? Activity { get; set; }
    /// <summary>How far a counted activity before training (filling the teacher-embedding cache) has come, 0 to 1; null otherwise.</summary>
    public double? ActivityFraction { get; set; }
    public long Step { get; set; }
    public long TotalSteps { get; set; }
    public double? LastLoss { get; set; }
    public double UpdatesPerSecond { get; set; }
    public double? EtaSeconds { get; set; }
    public string? Error { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    /// <summary>The folder of this run's checkpoints, samples and log (under the artifact root).</summary>
    public string? ArtifactFolder { get; set; }
    /// <summary>Set when this run was forked from another run's checkpoint.</summary>
    public int? ForkedFromRunId { get; set; }
    public int? ForkedFromCheckpointId { get; set; }
    /// <summary>The checkpoint the next execution resumes from (set by resume and fork).</summary>
    public int? ResumeCheckpointId { get; set; }
    /// <summary>When the run completes, its last checkpoint is evaluated (toy scores or teacher agreement).</summary>
    public bool EvaluateWhenDone { get; set; }
    /// <summary>
    /// Each checkpoint is evaluated as soon as it is written (the evaluation's default settings; the last one too), and
    /// checkpoints.keep leaves it until its evaluation has run.
    /// </summary>
    public bool EvaluateEachCheckpoint { get; set; }
    /// <summary>The settings of those evaluations (JSON of an EvaluationSettings; null: the evaluation's defaults).</summary>
    public string? EvaluationSettingsJson { get; set; }

    public double Progress => TotalSteps > 0 ? Math.Clamp((double)Step / TotalSteps, 0, 1) : 0;
    /// <summary>What a run's progress bar shows: a counted activity before training while there is one, else the updates done.</summary>
    public double ShownProgress => ActivityFraction ?? Progress;
    public bool IsActive => State is RunState.Queued or RunState.Running or RunState.Stopping;
    /// <summary>Completed before its last update: the trainer stopped it (validation.patience or validation.prune; its log says why).</summary>
    public bool StoppedEarly => State == RunState.Completed && TotalSteps > 0 && Step < TotalSteps;
}
