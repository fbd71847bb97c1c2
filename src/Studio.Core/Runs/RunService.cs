using System.Text.Json;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Artifacts;
using Studio.Core.Evaluations;
using Studio.Ml.Distillation;
using Studio.Ml.Models.T5;

namespace Studio.Core.Runs;

/// <summary>A refused action (wrong state, unknown id, bad value); <see cref="Problems"/> lists a configuration's problems by field.</summary>
public sealed class RunActionException(string message, IReadOnlyList<FieldProblem>? problems = null) : Exception(message)
{
    public IReadOnlyList<FieldProblem> Problems { get; } = problems ?? [];
    /// <summary>The action names something that does not exist (a run, checkpoint, generation ... by its id): the HTTP API answers 404.</summary>
    public bool NotFound { get; private init; }

    /// <summary>"no run 7": the thing an action was asked to act on does not exist.</summary>
    public static RunActionException Missing(string what) => new($"no {what}") { NotFound = true };
}

/// <summary>What the pages and the HTTP API do to runs: create and queue, cancel, resume, fork, delete.</summary>
public class RunService(
    IDbContextFactory<StudioDbContext> dbFactory,
    IBackgroundJobClient jobs,
    IRunBroadcaster broadcaster,
    StudioOptions options)
{
    public const int MaxNameLength = 200;
    /// <summary>The largest run YAML accepted (the New run form imports files up to this size too).</summary>
    public const int MaxConfigChars = 1 << 20;

    readonly PathGuard _paths = new(options);

    /// <param name="evaluate">What the run has evaluated by itself (<see cref="AutoEvaluation"/>).</param>
    public async Task<Run> CreateAsync(string name, string configYaml, string queue = "default", CancellationToken ct = default,
        AutoEvaluation? evaluate = null)
    {
        evaluate ??= AutoEvaluation.None;
        CheckRequest(name, configYaml, queue);
        if (EvaluationProblems(configYaml, evaluate) is { Count: > 0 } problems) throw Refused(problems);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var run = evaluate.ApplyTo(new Run { Name = name.Trim(), ConfigYaml = configYaml, Queue = queue, Activity = "queued" });
        db.Runs.Add(run);
        await db.SaveChangesAsync(ct);
        await EnqueueAsync(db, run, $"Queued on '{queue}'.", ct);
        return run;
    }

    /// <summary>
    /// Stops a run: a queued run is cancelled at once; a running one is marked Stopping and its job deleted, which
    /// cancels the job's token on its worker (the trainer then writes a checkpoint and returns).
    /// </summary>
    public async Task<Run> CancelAsync(int runId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var run = await FindAsync(db, runId, ct);
        if (!run.IsActive) throw new RunActionException($"run {runId} is {run.State.ToString().ToLowerInvariant()}, not queued or running");
        if (run.HangfireJobId is not null) jobs.Delete(run.HangfireJobId);
        if (run.State == RunState.Queued)
        {
            run.State = RunState.Cancelled;
            run.FinishedAt = DateTime.UtcNow;
            run.Activity = null;
        }
        else
        {
            run.State = RunState.Stopping;
            run.Activity = "stopping";
        }
        await LogAsync(db, run, run.State == RunState.Cancelled ? "Cancelled" : "Stopping", "Cancellation requested.", ct);
        return run;
    }

    /// <summary>Queues a stopped run again, from <paramref name="checkpointId"/> or else its latest checkpoint whose files are there (or from scratch when it has none).</summary>
    public async Task<Run> ResumeAsync(int runId, int? checkpointId = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var run = await FindAsync(db, runId, ct);
        if (run.State is not (RunState.Failed or RunState.Cancelled or RunState.Completed))
            throw new RunActionException($"run {runId} is {run.State.ToString().ToLowerInvariant()}; only a stopped run can be resumed");
        if (!CanResume(run))
            throw new RunActionException($"run {runId} cannot be resumed: its configuration can never run (copy it into a new run and fix it)",
                RunConfigValidation.TextProblems(run.ConfigYaml));
        CheckConfig(run.ConfigYaml);
        var checkpoint = checkpointId is { } id
            ? await db.Checkpoints.SingleOrDefaultAsync(c => c.Id == id && c.RunId == runId, ct)
              ?? throw new RunActionException($"run {runId} has no checkpoint {id}")
            : (await db.Checkpoints.Where(c => c.RunId == runId).OrderByDescending(c => c.Step).ToListAsync(ct)).FirstOrDefault(c => c.FilesPresent());
        if (checkpoint is not null && !checkpoint.FilesPresent()) throw new RunActionException(checkpoint.FilesGone());
        if (checkpoint is not null && IsFinalCheckpoint(run, checkpoint.Step))
            throw new RunActionException($"run {runId} completed all its {run.TotalSteps:N0} updates, so resuming it from step {checkpoint.Step:N0} " +
                "would train nothing: resume it from an earlier checkpoint, or fork this one with more updates (Fork with an edited configuration)");
        run.ResumeCheckpointId = checkpoint?.Id;
        run.State = RunState.Queued;
        run.Error = null;
        run.FinishedAt = null;
        run.Activity = "queued";
        await EnqueueAsync(db, run, checkpoint is null ? "Queued again from the start (no checkpoint)." : $"Queued to resume from step {checkpoint.Step}.", ct);
        return run;
    }

    /// <summary>
    /// A new run that starts from a checkpoint of another run, with the same (or an edited) configuration, on
    /// <paramref name="queue"/> (null: the parent's queue).
    /// </summary>
    public async Task<Run> ForkAsync(int checkpointId, string? name = null, string? configYaml = null, string? queue = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var checkpoint = await db.Checkpoints.SingleOrDefaultAsync(c => c.Id == checkpointId, ct)
                         ?? throw RunActionException.Missing($"checkpoint {checkpointId}");
        if (!checkpoint.FilesPresent()) throw new RunActionException(checkpoint.FilesGone());
        var parent = await FindAsync(db, checkpoint.RunId, ct);
        name = string.IsNullOrWhiteSpace(name) ? $"{parent.Name} (fork at step {checkpoint.Step})" : name;
        configYaml ??= parent.ConfigYaml;
        queue ??= parent.Queue;
        CheckRequest(name, configYaml, queue);
        // A fork resumes the checkpoint's student weights: its student must have the parent's architecture.
        if (StudentOf(configYaml) is { } asked && StudentOf(parent.ConfigYaml) is { } trained && asked != trained)
            throw Refused([new FieldProblem("student", $"a fork resumes checkpoint {checkpoint.Id}'s student ({Describe(trained)}), so it cannot change the student's " +
                                                       $"architecture (this YAML asks for {Describe(asked)}); start a new run for another student")]);
        var run = new Run
        {
            Name = name.Trim(),
            ConfigYaml = configYaml,
            Queue = queue,
            ForkedFromRunId = parent.Id,
            ForkedFromCheckpointId = checkpoint.Id,
            ResumeCheckpointId = checkpoint.Id,
            Activity = "queued",
        };
        db.Runs.Add(run);
        await db.SaveChangesAsync(ct);
        await EnqueueAsync(db, run, $"Forked from run {parent.Id} at step {checkpoint.Step}.", ct);
        return run;
    }

    /// <summary>Deletes a stopped run with its metrics, log and entries, and (when asked) its artifact folder.</summary>
    public async Task DeleteAsync(int runId, bool deleteArtifacts, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var run = await FindAsync(db, runId, ct);
        if (run.IsActive) throw new RunActionException($"run {runId} is {run.State.ToString().ToLowerInvariant()}: cancel it first");
        db.Runs.Remove(run);
        // The last run of a Bayesian sweep takes its plan with it (its name is free again).
        if (run.Group is { } group && !await db.Runs.AnyAsync(r => r.Group == group && r.Id != runId, ct))
            db.SweepPlans.RemoveRange(await db.SweepPlans.Where(p => p.Group == group).ToListAsync(ct));
        await db.SaveChangesAsync(ct);
        var folder = run.ArtifactFolder ?? ArtifactFolders.Run(options, runId);
        if (deleteArtifacts && Directory.Exists(folder) && ArtifactFolders.Contains(options, folder))
            Directory.Delete(folder, recursive: true);
    }

    /// <summary>Deletes one checkpoint's entry and its file or folder (only inside the artifact root).</summary>
    public async Task DeleteCheckpointAsync(int checkpointId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var checkpoint = await db.Checkpoints.SingleOrDefaultAsync(c => c.Id == checkpointId, ct)
                         ?? throw RunActionException.Missing($"checkpoint {checkpointId}");
        var run = await FindAsync(db, checkpoint.RunId, ct);
        if (run.ResumeCheckpointId == checkpointId && run.IsActive)
            throw new RunActionException($"run {run.Id} is resuming from checkpoint {checkpointId}");
        db.Checkpoints.Remove(checkpoint);
        await LogAsync(db, run, "Info", $"Checkpoint at step {checkpoint.Step} deleted.", ct);
        if (ArtifactFolders.Contains(options, checkpoint.Path))
        {
            if (File.Exists(checkpoint.Path)) File.Delete(checkpoint.Path);
            else if (Directory.Exists(checkpoint.Path)) Directory.Delete(checkpoint.Path, recursive: true);
        }
    }

    /// <summary>Queues an export of a checkpoint ("distillt5" or "t5") into the artifact root.</summary>
    public async Task<string> ExportCheckpointAsync(int checkpointId, string format, CancellationToken ct = default)
    {
        if (format is not ("distillt5" or "t5")) throw new RunActionException($"unknown export format '{format}' (distillt5 or t5)");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var checkpoint = await db.Checkpoints.SingleOrDefaultAsync(c => c.Id == checkpointId, ct)
                         ?? throw RunActionException.Missing($"checkpoint {checkpointId}");
        if (!checkpoint.FilesPresent()) throw new RunActionException(checkpoint.FilesGone());
        var run = await FindAsync(db, checkpoint.RunId, ct);
        if (ExportJob.Done(options, checkpointId, format) is { } done)
            throw new RunActionException($"checkpoint {checkpointId} (run {run.Id}, step {checkpoint.Step:N0}) is already exported as {format}: {done}");
        var runId = run.Id;
        var jobId = jobs.Create(Job.FromExpression<ExportJob>(j => j.Execute(runId, checkpointId, format, CancellationToken.None)),
            new EnqueuedState(run.Queue));
        await LogAsync(db, run, "Info", $"Export of the step {checkpoint.Step} checkpoint as {format} queued.", ct);
        return jobId;
    }

    /// <summary>
    /// A checkpoint at the end of a completed run: resuming from it has nothing left to train (a failed or cancelled
    /// run may still have its last samples or validation to do, so only a completed one is meant).
    /// </summary>
    public static bool IsFinalCheckpoint(Run run, long step) => run.State == RunState.Completed && run.TotalSteps > 0 && step >= run.TotalSteps;

    /// <summary>Whether Resume is offered: a stopped run whose configuration's text can run (files may still be missing).</summary>
    public static bool CanResume(Run run) =>
        run.State is RunState.Failed or RunState.Cancelled or RunState.Completed && RunConfigValidation.TextProblems(run.ConfigYaml).Count == 0;

    /// <summary>
    /// Renames a run and/or replaces its notes (null: left as it is; blank notes: none), in any state; nothing else
    /// about the run changes.
    /// </summary>
    public async Task<Run> EditAsync(int runId, string? name, string? notes, string? group = null, CancellationToken ct = default)
    {
        var problems = new List<FieldProblem>();
        if (name is not null && string.IsNullOrWhiteSpace(name)) problems.Add(new("name", "a run needs a name"));
        else if (name is { Length: > MaxNameLength }) problems.Add(new("name", $"{name.Length:N0} characters is longer than {MaxNameLength}"));
        if (notes is { Length: > Run.MaxNotesLength }) problems.Add(new("notes", $"{notes.Length:N0} characters is longer than {Run.MaxNotesLength:N0}"));
        if (group is { Length: > MaxNameLength }) problems.Add(new("group", $"{group.Length:N0} characters is longer than {MaxNameLength}"));
        if (problems.Count > 0) throw Refused(problems);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var run = await FindAsync(db, runId, ct);
        if (name is not null) run.Name = name.Trim();
        if (notes is not null) run.Notes = string.IsNullOrWhiteSpace(notes) ? null : notes.Trim();
        if (group is not null) run.Group = string.IsNullOrWhiteSpace(group) ? null : group.Trim();
        await db.SaveChangesAsync(ct);
        return run;
    }

    /// <summary>
    /// Queues a sweep: one run per combination of the axes' values, or per random draw (<see cref="RunSweep"/>), all in
    /// the group <paramref name="name"/>. Every configuration is checked first; with any problem nothing is written or
    /// queued. A problem every run shares is named once; one that only some runs have names their values. A Bayesian
    /// search queues its first runs and stores its <see cref="SweepPlan"/> with them (both or neither); the others come
    /// from <see cref="ContinueSweepAsync"/>. A second Bayesian sweep of the same name is refused.
    /// </summary>
    public async Task<IReadOnlyList<Run>> CreateSweepAsync(string name, string configYaml, IReadOnlyList<SweepAxis> axes, string queue = "default",
        SweepSearch? search = null, CancellationToken ct = default, AutoEvaluation? evaluate = null)
    {
        evaluate ??= AutoEvaluation.None;
        var variants = CheckSweep(name, configYaml, axes, queue, search);
        if (variants.Select(v => EvaluationProblems(v.ConfigYaml, evaluate)).FirstOrDefault(p => p.Count > 0) is { } problems) throw Refused(problems);
        var group = name.Trim();
        var bayesian = search is { Bayesian: true };
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (bayesian && await db.SweepPlans.AnyAsync(p => p.Group == group, ct))
            throw Refused([new("name", $"a Bayesian sweep named '{group}' exists already: give this one another name")]);
        var runs = variants.Select(v => Planned(evaluate.ApplyTo(new Run { Name = v.Name, ConfigYaml = v.ConfigYaml, Queue = queue, Group = group, Activity = "queued" }))).ToList();
        SweepPlan? plan = null;
        await using (var transaction = await db.Database.BeginTransactionAsync(ct))
        {
            db.Runs.AddRange(runs);
            await db.SaveChangesAsync(ct);
            if (bayesian)
            {
                // What the next runs are proposed from, written with the first runs (both or neither).
                plan = new SweepPlan
                {
                    Group = group, ConfigYaml = configYaml, AxesJson = JsonSerializer.Serialize(axes, PlanJson), Queue = queue,
                    TotalRuns = search!.RandomRuns!.Value, AtOnce = search.AtOnce, Seed = search.Seed, MadeRuns = runs.Count,
                    TrialsJson = JsonSerializer.Serialize(runs.Zip(variants, (r, v) => new SweepPlanTrial(r.Id, v.Settings.Select(x => x.Value).ToList())), PlanJson),
                };
                db.SweepPlans.Add(plan);
                await db.SaveChangesAsync(ct);
            }
            await transaction.CommitAsync(ct);
        }
        try
        {
            foreach (var run in runs) run.HangfireJobId = CreateRunJob(run);
        }
        catch
        {
            // The job storage failed part way: take back the jobs made and the runs, so a sweep is queued whole or not
            // at all. A job whose deletion fails too finds no run when it starts, and ends at once (RunJob).
            foreach (var id in runs.Select(r => r.HangfireJobId).OfType<string>())
                try { jobs.Delete(id); }
                catch (Exception e) { Console.Error.WriteLine($"sweep '{group}': job {id} of a run taken back could not be deleted: {e.Message}"); }
            db.Runs.RemoveRange(runs);
            if (plan is not null) db.SweepPlans.Remove(plan);
            await db.SaveChangesAsync(CancellationToken.None);
            throw;
        }
        foreach (var (run, variant, i) in runs.Zip(variants).Select((x, i) => (x.First, x.Second, i)))
            await LogAsync(db, run, "Queued", bayesian
                ? $"Queued on '{queue}' as run {i + 1} of the {plan!.TotalRuns} of Bayesian sweep '{group}' ({variant.Label}): drawn at random; the next runs are proposed by TPE as these finish."
                : $"Queued on '{queue}' as one of the {runs.Count} runs of sweep '{group}' ({variant.Label}).", ct);
        return runs;
    }

    static readonly JsonSerializerOptions PlanJson = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Lets a Bayesian sweep make <paramref name="more"/> runs beyond those it was asked for (up to <see cref="RunSweep.MaxRuns"/>
    /// in all), and queues at once as many as its runs at once allow (<see cref="ContinueSweepAsync"/>). Returns the
    /// sweep's new number of runs and the runs queued now.
    /// </summary>
    public async Task<(int TotalRuns, IReadOnlyList<Run> Queued)> ExtendSweepAsync(string group, int more, CancellationToken ct = default)
    {
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
        {
            var plan = await db.SweepPlans.AsNoTracking().SingleOrDefaultAsync(p => p.Group == group, ct)
                       ?? throw new RunActionException($"no Bayesian sweep named '{Shorten(group)}'");
            if (more < 1 || plan.TotalRuns + more > RunSweep.MaxRuns)
                throw Refused([new("runs", $"{more} more runs: a sweep of {plan.TotalRuns} runs can make 1 to {RunSweep.MaxRuns - plan.TotalRuns} more (at most {RunSweep.MaxRuns} in all)")]);
            // One statement, so that two extensions at once both count.
            await db.SweepPlans.Where(p => p.Id == plan.Id).ExecuteUpdateAsync(u => u.SetProperty(p => p.TotalRuns, p => p.TotalRuns + more), ct);
        }
        var queued = await ContinueSweepAsync(group, ct);
        await using var read = await dbFactory.CreateDbContextAsync(ct);
        return (await read.SweepPlans.Where(p => p.Group == group).Select(p => p.TotalRuns).SingleAsync(ct), queued);
    }

    /// <summary>
    /// The next runs of a Bayesian sweep, after one of its runs finished: as many as keep its <see cref="SweepPlan.AtOnce"/>
    /// runs queued or running, until it made <see cref="SweepPlan.TotalRuns"/>, each proposed by
    /// <see cref="RunSweep.ProposeNext"/> from the results of its runs that finished (each run's best held-out vision
    /// loss; a run without a validation has none). A run cancelled by its user is not replaced until another finishes.
    /// Two calls at once make each next run once (the plan's <see cref="SweepPlan.MadeRuns"/> is a concurrency token).
    /// Nothing happens for a group without a plan. Returns the runs queued; <paramref name="stopped"/> hears why the sweep
    /// made fewer than it could (every combination of its values made, or a proposed run's configuration refused here).
    /// </summary>
    public async Task<IReadOnlyList<Run>> ContinueSweepAsync(string group, CancellationToken ct = default, Action<string>? stopped = null)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await using var db = await dbFactory.CreateDbContextAsync(ct);
            var plan = await db.SweepPlans.SingleOrDefaultAsync(p => p.Group == group, ct);
            if (plan is null) return [];
            var trials = JsonSerializer.Deserialize<List<SweepPlanTrial>>(plan.TrialsJson, PlanJson) ?? [];
            var ids = trials.Select(t => t.RunId).ToList();
            var states = await db.Runs.Where(r => ids.Contains(r.Id)).ToDictionaryAsync(r => r.Id, r => r.State, ct);
            bool Active(int id) => states.TryGetValue(id, out var state) && state is RunState.Queued or RunState.Running or RunState.Stopping;
            var wanted = Math.Min(plan.AtOnce - ids.Count(Active), plan.TotalRuns - plan.MadeRuns);
            if (wanted <= 0) return [];
            var best = await new RunData(dbFactory).BestHeldOutAsync(ids, ct);
            var known = trials.Select(t => new SweepTrial(t.Settings, !Active(t.RunId) && best.TryGetValue(t.RunId, out var b) ? b.Y : null, Active(t.RunId))).ToList();
            var finished = known.Count(t => t.Loss is not null);
            var axes = JsonSerializer.Deserialize<List<SweepAxis>>(plan.AxesJson, PlanJson) ?? [];
            // The sweep's later runs are evaluated as its first one was.
            var evaluate = await db.Runs.Where(r => ids.Contains(r.Id)).OrderBy(r => r.Id).FirstOrDefaultAsync(ct) is { } first ? AutoEvaluation.Of(first) : AutoEvaluation.None;
            var made = new List<(Run Run, SweepVariant Variant)>();
            string? stuck = null;
            while (made.Count < wanted)
            {
                var variant = RunSweep.ProposeNext(group, plan.ConfigYaml, axes, known, plan.Seed, out var problems);
                var refused = variant is null ? problems : ConfigProblems(variant.ConfigYaml).Concat(NameProblems(variant.Name)).ToList();
                if (variant is null || refused.Count > 0)
                {
                    stuck = variant is null && refused.Count == 0 ? "every combination of its values was made"
                        : string.Join("; ", refused.Select(p => $"{p.Field}: {p.Message}"));
                    break;
                }
                known.Add(new SweepTrial(variant.Settings.Select(x => x.Value).ToList(), null, Pending: true));
                made.Add((Planned(evaluate.ApplyTo(new Run { Name = variant.Name, ConfigYaml = variant.ConfigYaml, Queue = plan.Queue, Group = group, Activity = "queued" })), variant));
            }
            if (stuck is not null)
                stopped?.Invoke($"Bayesian sweep '{group}' makes no run after its run {plan.MadeRuns + made.Count} of {plan.TotalRuns}: {stuck}.");
            if (made.Count == 0) return [];

            await using (var transaction = await db.Database.BeginTransactionAsync(ct))
            {
                db.Runs.AddRange(made.Select(m => m.Run));
                await db.SaveChangesAsync(ct);
                trials.AddRange(made.Select(m => new SweepPlanTrial(m.Run.Id, m.Variant.Settings.Select(x => x.Value).ToList())));
                plan.TrialsJson = JsonSerializer.Serialize(trials, PlanJson);
                plan.MadeRuns += made.Count;
                try
                {
                    await db.SaveChangesAsync(ct);
                    await transaction.CommitAsync(ct);
                }
                catch (DbUpdateConcurrencyException)
                {
                    // Another worker made the next runs first: look again.
                    await transaction.RollbackAsync(CancellationToken.None);
                    continue;
                }
            }
            foreach (var (run, variant) in made)
            {
                run.HangfireJobId = CreateRunJob(run);
                await db.SaveChangesAsync(ct);
                var index = trials.FindIndex(t => t.RunId == run.Id) + 1;
                await LogAsync(db, run, "Queued", $"Queued on '{plan.Queue}' as run {index} of the {plan.TotalRuns} of Bayesian sweep '{group}' ({variant.Label}): " +
                    (finished >= RunSweep.StartupRuns ? $"proposed by TPE from the {finished} runs with a result." : $"drawn at random ({finished} of the {RunSweep.StartupRuns} results TPE starts from)."), ct);
            }
            return made.Select(m => m.Run).ToList();
        }
        return [];
    }

    /// <summary>The runs a sweep would queue, each configuration checked as <see cref="CreateAsync"/> checks one; throws with every problem.</summary>
    public IReadOnlyList<SweepVariant> CheckSweep(string? name, string? configYaml, IReadOnlyList<SweepAxis>? axes, string? queue, SweepSearch? search = null)
    {
        var problems = new List<FieldProblem>();
        try { CheckRequest(name, configYaml, queue, checkConfig: false); }
        catch (RunActionException e) { problems.AddRange(e.Problems); }
        if (problems.Count > 0) throw Refused(problems);
        var variants = RunSweep.Expand(name!, configYaml!, axes ?? [], out var axisProblems, search);
        if (axisProblems.Count > 0) throw Refused(axisProblems);
        var each = variants.Select(v => (Variant: v, Readable: RunConfigValidation.Readable(v.ConfigYaml),
            Problems: ConfigProblems(v.ConfigYaml).Concat(NameProblems(v.Name)).ToList())).ToList();
        foreach (var problem in each.SelectMany(e => e.Problems).Distinct())
        {
            // Shared: every run that could be read this far has it (a run whose YAML cannot be read is checked no further).
            var having = each.Where(e => e.Problems.Contains(problem)).ToList();
            var shared = each.All(e => e.Problems.Contains(problem) || !e.Readable) && having.All(e => e.Readable) && having.Count > 1;
            problems.Add(shared || having.Count == each.Count ? problem
                : problem with { Message = $"{problem.Message} (in {string.Join("; ", having.Select(h => h.Variant.Label))})" });
        }
        // A Bayesian search learns from each run's best held-out vision loss: without validation it would only draw at random.
        if (search is { Bayesian: true } && problems.Count == 0 && variants.Select(v => RunConfig.FromYaml(v.ConfigYaml).Validation)
                .Any(v => v.Every < 1 || v.Prompts.Count == 0))
            problems.Add(new("validation.every", "Bayesian search needs validation (validation.every and validation.prompts): it proposes each next run from the runs' held-out vision loss"));
        if (problems.Count > 0) throw Refused(problems);
        return variants;
    }

    /// <summary>
    /// Why a run of this configuration cannot have the evaluations it asks for: their settings, or a teacher no
    /// evaluation can draw with (named at the field that asked); none when it can or nothing was asked.
    /// </summary>
    List<FieldProblem> EvaluationProblems(string configYaml, AutoEvaluation evaluate)
    {
        var problems = evaluate.Problems().ToList();
        if (!evaluate.Any) return problems;
        EvaluatedPipeline? teacher = null;
        try
        {
            teacher = EvaluationService.Evaluable(options, EvaluationService.ConfigOf(options, configYaml), "teacher.pipeline");
        }
        catch (RunActionException e)
        {
            problems.Add(evaluate.EachCheckpoint
                ? new FieldProblem("evaluateEachCheckpoint", $"cannot evaluate each checkpoint: {e.Message}")
                : new FieldProblem("evaluateWhenDone", $"cannot evaluate when done: {e.Message}"));
        }
        // A LoRA is checked as an evaluation's would be, against the run's teacher when it can be read.
        if (evaluate.Settings is { Lora: { } lora } settings && problems.Count == 0)
        {
            try { ModelRegistry.LoraCheck.Resolve(options, lora, settings.LoraScale, teacher?.Folder); }
            catch (RunActionException e) { problems.Add(new FieldProblem("evaluation", e.Message)); }
        }
        return problems;
    }

    static IEnumerable<FieldProblem> NameProblems(string name) =>
        name.Length > MaxNameLength ? [new FieldProblem("name", $"the run name '{Shorten(name)}' is longer than {MaxNameLength} characters: shorten the sweep's name")] : [];

    IReadOnlyList<FieldProblem> ConfigProblems(string configYaml) =>
        configYaml.Length > MaxConfigChars
            ? [new("configYaml", $"{configYaml.Length:N0} characters is over the limit of {MaxConfigChars:N0}")]
            : RunConfigValidation.Check(configYaml, _paths, options.ResolvedDataDirectory);

    void CheckRequest(string? name, string? configYaml, string? queue, bool checkConfig = true)
    {
        var problems = new List<FieldProblem>();
        if (string.IsNullOrWhiteSpace(name)) problems.Add(new("name", "a run needs a name"));
        else if (name.Length > MaxNameLength) problems.Add(new("name", $"{name.Length:N0} characters is longer than {MaxNameLength}"));
        if (string.IsNullOrEmpty(queue) || queue.Length > 64 || !queue.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-'))
            problems.Add(new("queue", $"queue name '{Shorten(queue)}' must be 1 to 64 lower-case letters, digits, '_' and '-'"));
        if (string.IsNullOrWhiteSpace(configYaml)) problems.Add(new("configYaml", "no run configuration (YAML) given"));
        if (configYaml is { Length: > MaxConfigChars }) problems.Add(new("configYaml", $"{configYaml.Length:N0} characters is over the limit of {MaxConfigChars:N0}"));
        if (problems.Count > 0) throw Refused(problems);
        if (checkConfig) CheckConfig(configYaml);
    }

    void CheckConfig(string? configYaml)
    {
        if (ConfigProblems(configYaml ?? "") is { Count: > 0 } problems) throw Refused(problems);
    }

    /// <summary>The student architecture a run YAML builds; null when it cannot be read (its own checks say why).</summary>
    static T5Config? StudentOf(string configYaml)
    {
        try { return StudentPresets.Resolve(RunConfig.FromYaml(configYaml).Student); }
        catch (Exception e) when (e is RunConfigException or ArgumentException) { return null; }
    }

    static string Describe(T5Config t) => $"d_model {t.DModel}, {t.NumLayers} layers, {t.NumHeads} heads, d_kv {t.DKv}, d_ff {t.DFf}";

    static RunActionException Refused(IReadOnlyList<FieldProblem> problems) =>
        new($"{problems.Count} {(problems.Count == 1 ? "problem" : "problems")}: {string.Join("; ", problems)}", problems);

    static string Shorten(string? text) => text is { Length: > 80 } ? text[..80] + "…" : text ?? "";

    static async Task<Run> FindAsync(StudioDbContext db, int runId, CancellationToken ct) =>
        await db.Runs.SingleOrDefaultAsync(r => r.Id == runId, ct) ?? throw RunActionException.Missing($"run {runId}");

    /// <summary>A new run says how many updates it will make before a worker starts it (the worker's number replaces it).</summary>
    static Run Planned(Run run)
    {
        if (run.TotalSteps == 0 && RunConfigValidation.Readable(run.ConfigYaml))
            run.TotalSteps = RunConfig.FromYaml(run.ConfigYaml).TotalUpdates;
        return run;
    }

    async Task EnqueueAsync(StudioDbContext db, Run run, string message, CancellationToken ct)
    {
        Planned(run);
        run.HangfireJobId = CreateRunJob(run);
        await LogAsync(db, run, "Queued", message, ct);
    }

    string CreateRunJob(Run run)
    {
        var runId = run.Id;
        return jobs.Create(Job.FromExpression<RunJob>(j => j.Execute(runId, CancellationToken.None)), new EnqueuedState(run.Queue));
    }

    async Task LogAsync(StudioDbContext db, Run run, string kind, string message, CancellationToken ct)
    {
        var e = new RunEvent { RunId = run.Id, Kind = kind, Stage = run.Stage, Step = run.Step, Message = message, Time = DateTime.UtcNow };
        db.RunEvents.Add(e);
        await db.SaveChangesAsync(ct);
        await broadcaster.PublishAsync(new RunBatch(run.Id, [], [], [e], RunStatus.Of(run)), ct);
    }
}
