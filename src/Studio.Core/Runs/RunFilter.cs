using Studio.Core.Data;

namespace Studio.Core.Runs;

/// <summary>How runs are found wherever they are listed: the Runs page, Compare's run picker and <c>GET /api/runs</c>.</summary>
public static class RunFilter
{
    /// <summary>The states a list of runs can be narrowed to: every run, the active ones (queued, running or stopping), or one state.</summary>
    public static readonly string[] States = ["all", "active", "queued", "running", "completed", "failed", "cancelled"];

    /// <summary>The one of <see cref="States"/> that <paramref name="text"/> names (any case, blanks around it); null when none does.</summary>
    public static string? Find(string? text) => States.FirstOrDefault(s => s.Equals(text?.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether <paramref name="run"/> is in <paramref name="state"/>, one of <see cref="States"/> ("all" and null: every run).</summary>
    public static bool InState(Run run, string? state) => state switch
    {
        null or "all" => true,
        "active" => run.IsActive,
        "queued" => run.State == RunState.Queued,
        "running" => run.State is RunState.Running or RunState.Stopping,
        "completed" => run.State == RunState.Completed,
        "failed" => run.State == RunState.Failed,
        "cancelled" => run.State == RunState.Cancelled,
        _ => throw new ArgumentException($"'{state}' is not a run state to list ({string.Join(", ", States)})", nameof(state)),
    };

    /// <summary>The one of <see cref="States"/> that lists the runs in <paramref name="state"/> (stopping runs are listed with the running ones).</summary>
    public static string For(RunState state) => state == RunState.Stopping ? "running" : state.ToString().ToLowerInvariant();

    /// <summary>A part of the name, the notes or the group (any case), or the id with or without its '#'; an empty search finds every run.</summary>
    public static bool Matches(Run run, string? search)
    {
        var text = search?.Trim();
        if (string.IsNullOrEmpty(text)) return true;
        return run.Name.Contains(text, StringComparison.OrdinalIgnoreCase) || run.Id.ToString() == text.TrimStart('#')
            || (run.Notes?.Contains(text, StringComparison.OrdinalIgnoreCase) ?? false)
            || (run.Group?.Contains(text, StringComparison.OrdinalIgnoreCase) ?? false);
    }
}
