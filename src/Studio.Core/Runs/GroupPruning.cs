using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Ml.Distillation;

namespace Studio.Core.Runs;

/// <summary>
/// validation.prune: a run is compared, at a validation, with the other runs of its group that got at least that far,
/// each by its best held-out vision loss up to that step (the held-out loss of a validation is the mean over its
/// categories). No group, and it goes on.
/// <list type="bullet">
/// <item>median (the median stopping rule of Google Vizier, Optuna's MedianPruner): it stops when its best is worse
/// than the median of the others' bests; fewer than <see cref="MinimumOthers"/> others, and it goes on.</item>
/// <item>halving (asynchronous successive halving, ASHA; Optuna's SuccessiveHalvingPruner), asked at the rungs only
/// (<see cref="Distiller.AsksToPrune"/>): of the n runs at the rung, itself included, it goes on when it is among the
/// best max(1, n / factor). So the first run to reach a rung goes on, and later ones must beat the best 1/factor of
/// those before them: no number of runs has to be waited for, which suits several workers.</item>
/// </list>
/// </summary>
public static class GroupPruning
{
    public const int MinimumOthers = 3;

    /// <summary>Why the run asking <paramref name="question"/> stops there, or null; <paramref name="others"/> are the group's other runs' validations.</summary>
    public static string? Decide(string group, PruneQuestion question, IEnumerable<RunData.HeldOutMean> others)
    {
        var bests = others.GroupBy(v => v.RunId)
            .Where(run => run.Max(v => v.Step) >= question.Step)
            .Select(run => run.Where(v => v.Step <= question.Step && double.IsFinite(v.Loss)).Select(v => v.Loss).DefaultIfEmpty(double.NaN).Min())
            .Where(double.IsFinite).Order().ToList();
        return question.Rule switch
        {
            "median" => Median(group, question, bests),
            "halving" => Halving(group, question, bests),
            _ => null,
        };
    }

    static string? Median(string group, PruneQuestion q, List<double> bests)
    {
        if (bests.Count < MinimumOthers) return null;
        var median = bests.Count % 2 == 1 ? bests[bests.Count / 2] : (bests[bests.Count / 2 - 1] + bests[bests.Count / 2]) / 2;
        return q.Best > median
            ? $"stopped at step {q.Step:N0} (validation.prune: median): its best held-out vision loss ({q.Best:G4}) is worse than the median ({median:G4}) " +
              $"of the best ones of {bests.Count} other runs of group '{group}' up to this step"
            : null;
    }

    static string? Halving(string group, PruneQuestion q, List<double> bests)
    {
        var runs = bests.Count + 1;
        var kept = Math.Max(1, runs / q.Factor);
        var worstKept = bests.Append(q.Best).Order().ElementAt(kept - 1);
        return q.Best > worstKept
            ? $"stopped at step {q.Step:N0} (validation.prune: halving): its best held-out vision loss ({q.Best:G4}) is not among the best {kept} " +
              $"of the {runs} runs of group '{group}' that got this far (the best 1/{q.Factor} go on; the {Ordinal(kept)}best is {worstKept:G4})"
            : null;
    }

    /// <summary>"" for 1 (the best), else "2nd ", "3rd ", "11th ", ...</summary>
    static string Ordinal(int n) => n == 1 ? "" : n + (n % 100 is 11 or 12 or 13 ? "th" : (n % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" }) + " ";

    /// <summary>The decision for run <paramref name="runId"/>, from the validations its group's other runs have stored.</summary>
    public static string? Decide(IDbContextFactory<StudioDbContext> dbFactory, int runId, PruneQuestion question)
    {
        using var db = dbFactory.CreateDbContext();
        if (db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => r.Group).SingleOrDefault() is not { } group) return null;
        var others = db.Runs.AsNoTracking().Where(r => r.Group == group && r.Id != runId).Select(r => r.Id).ToList();
        // Only the runs that got as far, and only their validations up to this step (a later one marks how far they got).
        var step = question.Step;
        var reached = db.ValidationPoints.AsNoTracking().Where(v => others.Contains(v.RunId) && v.Step >= step).Select(v => v.RunId).Distinct().ToList();
        var validations = RunData.HeldOutMeans(db.ValidationPoints.AsNoTracking().Where(v => reached.Contains(v.RunId) && v.Step <= step)).ToList()
            .Concat(reached.Select(id => new RunData.HeldOutMean(id, step, double.NaN))); // each reached this step, whatever it scored
        return Decide(group, question, validations);
    }
}
