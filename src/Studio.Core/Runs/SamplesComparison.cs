using Studio.Core.Data;
using Studio.Core.Figures;
using Studio.Core.Live;

namespace Studio.Core.Runs;

/// <summary>
/// Several runs' periodic samples side by side (Compare's Samples tab and its figure): a row per prompt and seed (the
/// same prompt text and seed in each run's samples.prompts), the teacher's image (from any run that drew it), then each
/// run's student at its latest sample step or at a step every run drew (<see cref="CommonSteps"/>).
/// </summary>
public sealed class SamplesComparison
{
    /// <summary>One prompt and seed: the teacher's image and each run's student images by step.</summary>
    public sealed record Row(string Prompt, long Seed, SampleEntry? Teacher, IReadOnlyDictionary<int, Dictionary<long, SampleEntry>> ByRun);

    public IReadOnlyList<int> RunIds { get; }
    public IReadOnlyList<Row> Rows { get; }
    /// <summary>The steps every run drew a student sample at, in order.</summary>
    public IReadOnlyList<long> CommonSteps { get; }

    public SamplesComparison(IReadOnlyList<int> runIds, IReadOnlyDictionary<int, IReadOnlyList<SampleEntry>> samples)
    {
        RunIds = runIds;
        var all = runIds.SelectMany(id => samples.GetValueOrDefault(id) ?? []).ToList();
        Rows = all.GroupBy(s => (s.Prompt, s.Seed))
            .OrderBy(g => g.Min(s => s.PromptIndex)).ThenBy(g => g.Key.Seed)
            .Select(g => new Row(g.Key.Prompt, g.Key.Seed, g.FirstOrDefault(s => s.IsTeacher),
                g.Where(s => !s.IsTeacher).GroupBy(s => s.RunId).ToDictionary(r => r.Key, r => r.GroupBy(s => s.Step).ToDictionary(x => x.Key, x => x.Last()))))
            .ToList();
        CommonSteps = runIds.Select(id => (samples.GetValueOrDefault(id) ?? []).Where(s => !s.IsTeacher).Select(s => s.Step).ToHashSet())
            .Aggregate((HashSet<long>?)null, (acc, steps) => acc is null ? steps : [.. acc.Intersect(steps)])?.Order().ToList() ?? [];
    }

    /// <summary>A run's student sample of a row: at <paramref name="step"/>, or its latest when null.</summary>
    public static SampleEntry? Student(Row row, int runId, long? step)
    {
        if (!row.ByRun.TryGetValue(runId, out var byStep) || byStep.Count == 0) return null;
        return step is { } s ? byStep.GetValueOrDefault(s) : byStep[byStep.Keys.Max()];
    }

    /// <summary>The most runs (columns besides the teacher's) one figure holds.</summary>
    public const int MaxRuns = 16;

    /// <summary>
    /// The figure of the runs <paramref name="ids"/> (the columns in that order) at <paramref name="step"/> (null: each
    /// run's latest samples), reading only images <paramref name="mayRead"/> allows. Unknown runs, runs without samples or
    /// a step not all of them drew are refused naming them.
    /// </summary>
    public static async Task<byte[]> FigureAsync(RunData data, IReadOnlyList<int> ids, long? step, Func<string, bool> mayRead, CancellationToken ct = default)
    {
        var names = new Dictionary<int, string>();
        var samples = new Dictionary<int, IReadOnlyList<SampleEntry>>();
        foreach (var id in ids)
        {
            var run = await data.RunAsync(id, ct) ?? throw new RunActionException($"no run {id}");
            names[id] = $"{run.Id} · {run.Name}";
            samples[id] = await data.SamplesAsync(id, ct);
        }
        return new SamplesComparison(ids, samples).FigurePng(id => names[id], step, mayRead);
    }

    /// <summary>
    /// The grid as one figure (<see cref="ImageFigure"/>): the teacher's column, then a column per run named
    /// <paramref name="runName"/>, each student image captioned with its step.
    /// </summary>
    public byte[] FigurePng(Func<int, string> runName, long? step, Func<string, bool> mayRead)
    {
        if (Rows.Count == 0) throw new RunActionException("these runs have no samples yet: runs draw them every samples.every updates, for their samples.prompts");
        if (step is { } s && !CommonSteps.Contains(s))
            throw new RunActionException($"query 'step': {s} is not a step every run drew samples at ({(CommonSteps.Count == 0 ? "there is none" : string.Join(", ", CommonSteps))})");
        var rows = Rows.Select(r => new FigureRow(r.Prompt, $"seed {r.Seed}" + (step is { } at ? $" · step {at}" : " · each run's latest samples"),
            [
                new FigureCell(r.Teacher?.PngPath, Missing: "no teacher sample"),
                .. RunIds.Select(id => Student(r, id, step) is { } sample
                    ? new FigureCell(sample.PngPath, $"step {sample.Step:N0}")
                    : new FigureCell(null, Missing: "no sample of this prompt and seed")),
            ])).ToList();
        return ImageFigure.Png(["teacher", .. RunIds.Select(runName)], rows, mayRead);
    }
}
