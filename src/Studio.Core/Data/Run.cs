namespace Studio.Core.Data;

public enum RunState { Queued, Running, Stopping, Completed, Failed, Cancelled }

/// <summary>One distillation run: its configuration (the run YAML) and where it is.</summary>
public class Run
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public RunState State { get; set; } = RunState.Queued;
    /// <summary>The run configuration in the same YAML `studio distill --config` reads.</summary>
    public string ConfigYaml { get; set; } = "";
    public string? HangfireJobId { get; set; }
    public string? Worker { get; set; }
    public int Stage { get; set; }
    public long Step { get; set; }
    public long TotalSteps { get; set; }
    public string? Error { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
}
