namespace Studio.Core.Data;

/// <summary>
/// A Bayesian sweep (search: Bayesian): what the studio needs to propose each of its next runs when one of its runs
/// finishes (<see cref="Runs.RunService.ContinueSweepAsync"/>): the sweep's configuration and axes, how many runs it
/// makes in all and at once, its seed, and every run it made with its values (<see cref="TrialsJson"/>).
/// </summary>
public class SweepPlan
{
    public int Id { get; set; }
    /// <summary>The sweep's name: its runs' <see cref="Run.Group"/>.</summary>
    public required string Group { get; set; }
    public required string ConfigYaml { get; set; }
    /// <summary>The axes as the request gave them: [{"field": ..., "values": [...]}].</summary>
    public required string AxesJson { get; set; }
    public string Queue { get; set; } = "default";
    public int TotalRuns { get; set; }
    public int AtOnce { get; set; }
    public int Seed { get; set; }
    /// <summary>The runs made so far, each with its value of each axis: [{"runId": 3, "settings": ["3e-4", "small"]}].</summary>
    public string TrialsJson { get; set; } = "[]";
    /// <summary>How many runs the sweep made (two workers finishing at once cannot both make the next: a concurrency token).</summary>
    public int MadeRuns { get; set; }
    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
}

/// <summary>One run of a <see cref="SweepPlan"/>: its id and its value of each axis.</summary>
public sealed record SweepPlanTrial(int RunId, IReadOnlyList<string> Settings);
