using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Jobs;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

/// <summary>
/// Bayesian sweeps: the first runs drawn at random and queued at once, each next run proposed by TPE from the results
/// of the runs that finished, queued when one finishes, until the sweep made all its runs.
/// </summary>
public class BayesianSweepTests
{
    static string Toy(Action<RunConfig>? edit = null) => ToyRun.Yaml(edit);
    static readonly SweepAxis Lr = new("optimizer.lr", ["loguniform(1e-5, 1e-1)"]);

    [Fact]
    public void TheFirstRunsAreRandomDrawsAndTheSearchsOwnFieldsAreChecked()
    {
        var variants = RunSweep.Expand("lr", Toy(), [Lr], out var problems, new SweepSearch(10, Seed: 3, Bayesian: true, AtOnce: 3));
        Assert.Empty(problems);
        // The runs queued at once are random search's first draws with the same seed.
        var random = RunSweep.Expand("lr", Toy(), [Lr], out _, new SweepSearch(3, Seed: 3));
        Assert.Equal(random.Select(v => v.Name), variants.Select(v => v.Name));

        RunSweep.Expand("lr", Toy(), [Lr], out problems, new SweepSearch(null, Bayesian: true));
        Assert.Contains(problems, p => p.Field == "randomRuns" && p.Message.Contains("Bayesian search needs the number of runs"));
        RunSweep.Expand("lr", Toy(), [Lr], out problems, new SweepSearch(4, Bayesian: true, AtOnce: 5));
        Assert.Equal([new FieldProblem("atOnce", "5 runs at once: from 1 to the sweep's 4 runs")], problems);
        RunSweep.Expand("lr", Toy(), [new SweepAxis("student.preset", ["toy-small", "toy-base"])], out problems, new SweepSearch(3, Bayesian: true, AtOnce: 1));
        Assert.Contains(problems, p => p.Field == "randomRuns" && p.Message.Contains("only 2 different runs"));
    }

    [Fact]
    public void UntilFourRunsHaveAResultTheNextIsDrawnAtRandomThenProposedWhereTheGoodRunsWere()
    {
        // Three results: still random, and a different draw for each number of runs made.
        var three = Enumerable.Range(0, 3).Select(i => new SweepTrial([SweepValues.Number(Math.Pow(10, -5 + i))], 1.0)).ToList();
        var first = Propose(three);
        Assert.NotEqual(first, Propose([.. three, new SweepTrial(["0.5"], null)]));

        // Eight results from 1e-5 to 1e-1; the closer to 1e-3 the lower the loss: the proposals gather around 1e-3.
        var eight = Enumerable.Range(0, 8).Select(i => Math.Pow(10, -5 + 4.0 * i / 7))
            .Select(lr => new SweepTrial([SweepValues.Number(lr)], Math.Abs(Math.Log10(lr) + 3))).ToList();
        var proposals = Enumerable.Range(0, 20).Select(seed => double.Parse(Propose(eight, seed), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(proposals.Count(lr => Math.Abs(Math.Log10(lr) + 3) < 1) >= 17, string.Join(", ", proposals));

        static string Propose(IReadOnlyList<SweepTrial> trials, int seed = 0)
        {
            var variant = RunSweep.ProposeNext("lr", Toy(), [Lr], trials, seed, out var problems);
            Assert.Empty(problems);
            var lr = RunConfig.FromYaml(variant!.ConfigYaml).Optimizer.Lr;
            Assert.Equal($"lr · lr={variant.Settings[0].Value}", variant.Name);
            Assert.Equal(double.Parse(variant.Settings[0].Value, System.Globalization.CultureInfo.InvariantCulture), lr);
            return variant.Settings[0].Value;
        }
    }

    [Fact]
    public void ARunStillTrainingCountsAsTheWorstResultSoTheNextIsNotProposedOnTopOfIt()
    {
        // Eight results around a best at 1e-3, and a run of 1e-3 still training.
        var eight = Enumerable.Range(0, 8).Select(i => Math.Pow(10, -5 + 4.0 * i / 7))
            .Select(lr => new SweepTrial([SweepValues.Number(lr)], Math.Abs(Math.Log10(lr) + 3))).ToList();
        int NearTheRunningOne(IReadOnlyList<SweepTrial> trials) => Enumerable.Range(0, 40).Count(seed =>
        {
            var variant = RunSweep.ProposeNext("lr", Toy(), [Lr], trials, seed, out _)!;
            return Math.Abs(Math.Log10(double.Parse(variant.Settings[0].Value, System.Globalization.CultureInfo.InvariantCulture)) + 3) < 0.25;
        });
        var alone = NearTheRunningOne(eight);
        var beside = NearTheRunningOne([.. eight, new SweepTrial(["0.001"], null, Pending: true)]);
        Assert.True(beside < alone / 2, $"{beside} of 40 proposals within a quarter decade of the running 1e-3, against {alone} without it");
    }

    [Fact]
    public void ARunIsNeverProposedTwiceAndNoneIsProposedWhenEveryCombinationWasMade()
    {
        SweepAxis presets = new("student.preset", ["toy-small", "toy-base", "toy-large"]);
        // The large student was best by far: TPE would propose it again, but it was made; the next is another.
        var trials = new List<SweepTrial> { new(["toy-large"], 0.1), new(["toy-small"], 0.9), new(["toy-small"], 0.9), new(["toy-small"], 0.9) };
        var next = RunSweep.ProposeNext("size", Toy(), [presets], trials, 0, out var problems);
        Assert.Empty(problems);
        Assert.Equal("toy-base", next!.Settings[0].Value);
        Assert.Null(RunSweep.ProposeNext("size", Toy(), [presets], [.. trials, new SweepTrial(["toy-base"], 0.5)], 0, out problems));
        Assert.Empty(problems);
    }

    static Task<RunJobTests.Setup> SetUpAsync() => RunJobTests.SetUpAsync();

    /// <summary>Marks a run finished with one validation whose mean held-out vision loss is <paramref name="loss"/> (null: none).</summary>
    static async Task FinishAsync(RunJobTests.Setup s, int runId, double? loss, RunState state = RunState.Completed)
    {
        await using var db = s.Db.CreateDbContext();
        var run = await db.Runs.SingleAsync(r => r.Id == runId);
        run.State = state;
        run.FinishedAt = DateTime.UtcNow;
        if (loss is { } l)
            db.ValidationPoints.AddRange(new ValidationPoint { RunId = runId, Step = 10, Category = "text", VisionLoss = l - 0.1 },
                new ValidationPoint { RunId = runId, Step = 10, Category = "semantics/colour", VisionLoss = l + 0.1 });
        await db.SaveChangesAsync();
    }

    static async Task<List<Run>> GroupAsync(RunJobTests.Setup s, string group)
    {
        await using var db = s.Db.CreateDbContext();
        return await db.Runs.Where(r => r.Group == group).OrderBy(r => r.Id).ToListAsync();
    }

    [Fact]
    public async Task EachFinishedRunMakesRoomForTheNextUntilTheSweepMadeAllItsRuns()
    {
        var s = await SetUpAsync();
        var first = await s.Runs.CreateSweepAsync("lr", Toy(), [Lr], search: new SweepSearch(5, Seed: 1, Bayesian: true, AtOnce: 2));
        Assert.Equal(2, first.Count);
        Assert.All(first, r => Assert.NotNull(r.HangfireJobId));
        await using (var db = s.Db.CreateDbContext())
        {
            var plan = await db.SweepPlans.SingleAsync();
            Assert.Equal(("lr", 5, 2, 2), (plan.Group, plan.TotalRuns, plan.AtOnce, plan.MadeRuns));
            Assert.Contains(await db.RunEvents.Where(e => e.RunId == first[0].Id).Select(e => e.Message).ToListAsync(),
                m => m.StartsWith("Queued on 'default' as run 1 of the 5 of Bayesian sweep 'lr' (lr=") && m.EndsWith("drawn at random; the next runs are proposed by TPE as these finish."));
        }
        // While both are queued or running, nothing more is made.
        Assert.Empty(await s.Runs.ContinueSweepAsync("lr"));

        // The first finishes: one run takes its place (two at once), drawn at random while fewer than four have results.
        await FinishAsync(s, first[0].Id, 0.3);
        var third = Assert.Single(await s.Runs.ContinueSweepAsync("lr"));
        Assert.NotNull(third.HangfireJobId);
        Assert.All(first.Append(third), r => Assert.Equal(RunConfig.FromYaml(Toy()).TotalUpdates, r.TotalSteps)); // "0 / 400" while queued
        Assert.Equal("lr", third.Group);
        Assert.Empty(await s.Runs.ContinueSweepAsync("lr"));
        await using (var db = s.Db.CreateDbContext())
            Assert.Contains(await db.RunEvents.Where(e => e.RunId == third.Id).Select(e => e.Message).ToListAsync(),
                m => m.StartsWith("Queued on 'default' as run 3 of the 5 of Bayesian sweep 'lr'") && m.Contains("drawn at random (1 of the 4 results TPE starts from)"));

        // Two more finish (one failed without a validation: it counts against the sweep, with no result): two runs, the
        // last of the five; then nothing, however many finish.
        await FinishAsync(s, first[1].Id, 0.2);
        await FinishAsync(s, third.Id, null, RunState.Failed);
        Assert.Equal(2, (await s.Runs.ContinueSweepAsync("lr")).Count);
        var all = await GroupAsync(s, "lr");
        Assert.Equal(5, all.Count);
        Assert.Equal(5, all.Select(r => r.Name).Distinct().Count());
        foreach (var run in all.Where(r => r.State == RunState.Queued)) await FinishAsync(s, run.Id, 0.25);
        Assert.Empty(await s.Runs.ContinueSweepAsync("lr"));
        Assert.Equal(5, (await GroupAsync(s, "lr")).Count);
        await using (var db = s.Db.CreateDbContext())
        {
            var plan = await db.SweepPlans.SingleAsync();
            Assert.Equal(5, plan.MadeRuns);
            Assert.Equal(all.Select(r => r.Id), System.Text.Json.JsonDocument.Parse(plan.TrialsJson).RootElement.EnumerateArray().Select(t => t.GetProperty("runId").GetInt32()));
        }
    }

    [Fact]
    public async Task ASweepThatMadeAllItsRunsCanBeAskedForMore()
    {
        var s = await SetUpAsync();
        var first = await s.Runs.CreateSweepAsync("lr", Toy(), [Lr], search: new SweepSearch(2, Bayesian: true, AtOnce: 2));
        foreach (var run in first) await FinishAsync(s, run.Id, 0.3);
        Assert.Empty(await s.Runs.ContinueSweepAsync("lr"));

        // Three more: two queued now (two at once), the third when one of them finishes.
        var (total, queued) = await s.Runs.ExtendSweepAsync("lr", 3);
        Assert.Equal(5, total);
        Assert.Equal(2, queued.Count);
        await FinishAsync(s, queued[0].Id, 0.2);
        Assert.Single(await s.Runs.ContinueSweepAsync("lr"));
        Assert.Equal(5, (await GroupAsync(s, "lr")).Count);

        // Beyond 64 in all, none, or a group that is no Bayesian sweep: refused, nothing changed.
        var e = await Assert.ThrowsAsync<RunActionException>(() => s.Runs.ExtendSweepAsync("lr", 60));
        Assert.Equal([new FieldProblem("runs", "60 more runs: a sweep of 5 runs can make 1 to 59 more (at most 64 in all)")], e.Problems);
        await Assert.ThrowsAsync<RunActionException>(() => s.Runs.ExtendSweepAsync("lr", 0));
        Assert.Equal("no Bayesian sweep named 'size'", (await Assert.ThrowsAsync<RunActionException>(() => s.Runs.ExtendSweepAsync("size", 2))).Message);
        await using var db = s.Db.CreateDbContext();
        Assert.Equal(5, (await db.SweepPlans.SingleAsync()).TotalRuns);
    }

    [Fact]
    public async Task TwoRunsFinishingAtOnceMakeEachNextRunOnce()
    {
        var s = await SetUpAsync();
        var first = await s.Runs.CreateSweepAsync("lr", Toy(), [Lr], search: new SweepSearch(6, Bayesian: true, AtOnce: 2));
        await FinishAsync(s, first[0].Id, 0.3);
        await FinishAsync(s, first[1].Id, 0.2);
        // Two workers, each told its run finished, continue the sweep at the same moment: two new runs in all, not four.
        var made = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => s.Runs.ContinueSweepAsync("lr"))));
        Assert.Equal(2, made.Sum(m => m.Count));
        Assert.Equal(4, (await GroupAsync(s, "lr")).Count);
        await using var db = s.Db.CreateDbContext();
        Assert.Equal(4, (await db.SweepPlans.SingleAsync()).MadeRuns);
    }

    [Fact]
    public async Task ASecondBayesianSweepOfTheSameNameIsRefusedAndNothingIsQueued()
    {
        var s = await SetUpAsync();
        await s.Runs.CreateSweepAsync("lr", Toy(), [Lr], search: new SweepSearch(4, Bayesian: true, AtOnce: 2));
        var e = await Assert.ThrowsAsync<RunActionException>(() => s.Runs.CreateSweepAsync("lr ", Toy(), [Lr], search: new SweepSearch(4, Bayesian: true, AtOnce: 2)));
        Assert.Equal([new FieldProblem("name", "a Bayesian sweep named 'lr' exists already: give this one another name")], e.Problems);
        // Without validation there is nothing to learn from: refused, naming the field.
        var blind = await Assert.ThrowsAsync<RunActionException>(() => s.Runs.CreateSweepAsync("blind", Toy(c => c.Validation.Every = 0), [Lr],
            search: new SweepSearch(4, Bayesian: true, AtOnce: 2)));
        Assert.Equal("validation.every", Assert.Single(blind.Problems).Field);
        Assert.Empty(await GroupAsync(s, "blind"));
        var runs = await GroupAsync(s, "lr");
        Assert.Equal(2, runs.Count);

        // Once its runs are deleted, the name is free again.
        foreach (var run in runs)
        {
            await s.Runs.CancelAsync(run.Id);
            await s.Runs.DeleteAsync(run.Id, deleteArtifacts: true);
        }
        await using (var db = s.Db.CreateDbContext()) Assert.Empty(db.SweepPlans);
        Assert.Equal(2, (await s.Runs.CreateSweepAsync("lr", Toy(), [Lr], search: new SweepSearch(4, Bayesian: true, AtOnce: 2))).Count);
    }

    [Fact]
    public async Task AWorkerFinishingARunOfTheSweepQueuesTheNext()
    {
        var s = await SetUpAsync();
        var first = await s.Runs.CreateSweepAsync("lr", Toy(), [Lr], search: new SweepSearch(3, Bayesian: true, AtOnce: 1));
        await s.Job(new CompletingExecutor()).Execute(first[0].Id, CancellationToken.None);
        var runs = await GroupAsync(s, "lr");
        Assert.Equal([RunState.Completed, RunState.Queued], runs.Select(r => r.State));
        Assert.NotNull(runs[1].HangfireJobId);
    }

    [Fact]
    public async Task ASweepThatCannotProposeItsNextRunSaysWhyInTheLogOfTheRunThatFinished()
    {
        var s = await SetUpAsync();
        // Two listed rates, one of them refused by the run check; a seed whose first draw is the good one.
        SweepAxis rates = new("optimizer.lr", ["1e-3", "0"]);
        var seed = Enumerable.Range(0, 50).First(k => RunSweep.Expand("lr", Toy(), [rates], out _, new SweepSearch(2, k, Bayesian: true, AtOnce: 1)) is [{ } v] && v.Name.EndsWith("lr=1e-3"));
        var first = Assert.Single(await s.Runs.CreateSweepAsync("lr", Toy(), [rates], search: new SweepSearch(2, seed, Bayesian: true, AtOnce: 1)));

        await s.Job(new CompletingExecutor()).Execute(first.Id, CancellationToken.None);
        Assert.Single(await GroupAsync(s, "lr"));
        await using var db = s.Db.CreateDbContext();
        var warning = await db.RunEvents.Where(e => e.RunId == first.Id && e.Kind == "Warning").Select(e => e.Message).SingleAsync();
        Assert.StartsWith("Bayesian sweep 'lr' makes no run after its run 1 of 2: ", warning);
        Assert.Contains("optimizer.lr: 0 must be positive", warning);
    }

    sealed class CompletingExecutor : IRunExecutor
    {
        public Task ExecuteAsync(RunExecution run, Studio.Ml.Distillation.ITrainingReporter reporter, CancellationToken ct) => Task.CompletedTask;
    }
}
