using System.Text.Json;
using Studio.Core.Data;
using Studio.Core.Runs;

namespace Studio.Core.Evaluations;

/// <summary>
/// What a run asks to have evaluated without anyone asking again: its last checkpoint when it completes
/// (<see cref="WhenDone"/>), each checkpoint as it is written (<see cref="EachCheckpoint"/>), with
/// <see cref="Settings"/> (null: the evaluation's defaults). Stored on the run (<see cref="Run.EvaluateWhenDone"/>,
/// <see cref="Run.EvaluateEachCheckpoint"/>, <see cref="Run.EvaluationSettingsJson"/>).
/// </summary>
public sealed record AutoEvaluation(bool WhenDone = false, bool EachCheckpoint = false, EvaluationSettings? Settings = null)
{
    public static readonly AutoEvaluation None = new();

    public bool Any => WhenDone || EachCheckpoint;

    /// <summary>The settings its evaluations use.</summary>
    public EvaluationSettings EffectiveSettings => Settings ?? new EvaluationSettings();

    /// <summary>Problems of the request itself, by field (settings out of range, or settings for nothing to evaluate).</summary>
    public IEnumerable<FieldProblem> Problems()
    {
        if (Settings is null) yield break;
        if (!Any) yield return new FieldProblem("evaluation", "settings given, but the run asks for no evaluation (evaluateWhenDone or evaluateEachCheckpoint)");
        string? problem = null;
        try { Settings.Validate(); }
        catch (RunActionException e) { problem = e.Message; }
        if (problem is not null) yield return new FieldProblem("evaluation", problem);
    }

    public static AutoEvaluation Of(Run run) => new(run.EvaluateWhenDone, run.EvaluateEachCheckpoint,
        run.EvaluationSettingsJson is { } json ? JsonSerializer.Deserialize<EvaluationSettings>(json) : null);

    /// <summary>Writes this onto a new run.</summary>
    public Run ApplyTo(Run run)
    {
        run.EvaluateWhenDone = WhenDone;
        run.EvaluateEachCheckpoint = EachCheckpoint;
        run.EvaluationSettingsJson = Settings is null ? null : JsonSerializer.Serialize(Settings);
        return run;
    }
}
