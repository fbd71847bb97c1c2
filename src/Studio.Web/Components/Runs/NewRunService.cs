using Studio.Core.Evaluations;
using Microsoft.EntityFrameworkCore;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.ModelRegistry;
using Studio.Core.Prompts;
using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Web.Components.Runs;

/// <summary>What the New run form offers to choose from: registered teacher pipelines and imported prompt sets.</summary>
public sealed record NewRunChoices(List<ModelEntry> Teachers, List<PromptSet> ImportedSets);

/// <summary>Where a form starts when it copies a run or forks one of its checkpoints.</summary>
public sealed record NewRunStart(Run Run, CheckpointEntry? Fork);

/// <summary>
/// The New run page's reads and actions (the page itself holds only the form): its choices, the run or checkpoint it
/// starts from, the memory estimate (the teacher folder read once per folder), and queueing.
/// </summary>
public sealed class NewRunService(IDbContextFactory<StudioDbContext> dbFactory, ModelService models, RunService runs, PromptSetService promptSets, StudioOptions options)
{
    public async Task<NewRunChoices> ChoicesAsync(CancellationToken ct = default)
    {
        var teachers = await models.TeacherPipelinesAsync(ct);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return new(teachers, await db.PromptSets.AsNoTracking().Where(p => !p.IsBuiltIn).OrderBy(p => p.Name).ToListAsync(ct));
    }

    /// <summary>The run to copy (<paramref name="fromRun"/>) or whose checkpoint to fork (<paramref name="forkCheckpoint"/>, which wins); null when neither exists.</summary>
    public async Task<NewRunStart?> StartAsync(int? fromRun, int? forkCheckpoint, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var fork = forkCheckpoint is { } id ? await db.Checkpoints.AsNoTracking().SingleOrDefaultAsync(c => c.Id == id, ct) : null;
        var runId = fork?.RunId ?? fromRun;
        return runId is { } r && await db.Runs.AsNoTracking().SingleOrDefaultAsync(x => x.Id == r, ct) is { } run ? new(run, fork) : null;
    }

    /// <summary>An imported prompt set goes to data/prompt-sets/set-ID.jsonl; the answer names it relative to the data directory.</summary>
    public async Task<string> UseImportedSetAsync(PromptSet set)
    {
        var relative = Path.Combine("prompt-sets", $"set-{set.Id}.jsonl");
        await promptSets.WriteJsonlAsync(set.Id, Path.Combine(options.ResolvedDataDirectory, relative));
        return relative;
    }

    (string Folder, TeacherShape? Shape)? _teacher;

    /// <summary>The estimate of <see cref="MemoryEstimate.Of(RunConfig)"/>, reading the teacher folder again only when it changes.</summary>
    public MemoryEstimate? Estimate(RunConfig config)
    {
        var folder = DistillationSetup.ResolveTeacherFolder(config);
        if (_teacher is not { } known || known.Folder != folder) _teacher = known = (folder, TeacherShape.Read(folder));
        return MemoryEstimate.Of(config, known.Shape);
    }

    /// <summary>Queues the run (a fork of <paramref name="fork"/> when given); refusals come as <see cref="RunActionException"/>.</summary>
    public Task<Run> QueueAsync(RunConfig config, string queue, CheckpointEntry? fork, AutoEvaluation? evaluate = null) => fork is { } c
        ? runs.ForkAsync(c.Id, config.Name, config.ToYaml(), queue)
        : runs.CreateAsync(config.Name, config.ToYaml(), queue, evaluate: evaluate);

    /// <summary>Queues one run per combination of the axes' values (or per random draw), in the group named by the run name.</summary>
    public Task<IReadOnlyList<Run>> QueueSweepAsync(RunConfig config, IReadOnlyList<SweepAxis> axes, SweepSearch search, string queue,
        AutoEvaluation? evaluate = null) =>
        runs.CreateSweepAsync(config.Name, config.ToYaml(), axes, queue, search, evaluate: evaluate);

    /// <summary>The problems of the sweep and of every run it would queue (none: it can be queued).</summary>
    public IReadOnlyList<FieldProblem> SweepProblems(RunConfig config, IReadOnlyList<SweepAxis> axes, SweepSearch search, string queue)
    {
        try
        {
            runs.CheckSweep(config.Name, config.ToYaml(), axes, queue, search);
            return [];
        }
        catch (RunActionException e) { return e.Problems.Count > 0 ? e.Problems : [new FieldProblem("", e.Message)]; }
    }
}
