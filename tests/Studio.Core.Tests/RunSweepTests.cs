using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Live;
using Studio.Core.Runs;
using Studio.Ml.Distillation;

namespace Studio.Core.Tests;

public class RunSweepTests
{
    static string Toy(Action<RunConfig>? edit = null) => ToyRun.Yaml(edit);

    static IReadOnlyList<SweepVariant> Expand(string yaml, params SweepAxis[] axes)
    {
        var variants = RunSweep.Expand("lr study", yaml, axes, out var problems);
        Assert.Empty(problems);
        return variants;
    }

    static IReadOnlyList<FieldProblem> Problems(string yaml, params SweepAxis[] axes)
    {
        var variants = RunSweep.Expand("lr study", yaml, axes, out var problems);
        Assert.Empty(variants);
        return problems;
    }

    [Fact]
    public void EveryCombinationIsARunWithItsValuesWrittenAtTheirFieldsAndNamedByThem()
    {
        var variants = Expand(Toy(),
            new SweepAxis("optimizer.lr", ["1e-4", "3e-4"]),
            new SweepAxis("student.preset", ["toy-small", "toy-base", "toy-large"]));

        Assert.Equal(6, variants.Count);
        Assert.Equal(
            ["lr study · lr=1e-4, preset=toy-small", "lr study · lr=1e-4, preset=toy-base", "lr study · lr=1e-4, preset=toy-large",
             "lr study · lr=3e-4, preset=toy-small", "lr study · lr=3e-4, preset=toy-base", "lr study · lr=3e-4, preset=toy-large"],
            variants.Select(v => v.Name));
        var configs = variants.Select(v => RunConfig.FromYaml(v.ConfigYaml)).ToList();
        Assert.Equal([1e-4, 1e-4, 1e-4, 3e-4, 3e-4, 3e-4], configs.Select(c => c.Optimizer.Lr));
        Assert.Equal(["toy-small", "toy-base", "toy-large", "toy-small", "toy-base", "toy-large"], configs.Select(c => c.Student.Preset));
        Assert.Equal(variants.Select(v => v.Name), configs.Select(c => c.Name));
        Assert.All(variants, v => Assert.False(v.ConfigYaml.Contains("...") || v.ConfigYaml.StartsWith("---"), v.ConfigYaml));
        // Everything else is the base configuration's.
        var toy = RunConfig.FromYaml(Toy());
        Assert.All(configs, c => Assert.Equal((toy.Seed, toy.TotalUpdates, toy.Optimizer.BatchSize, toy.Teacher.Pipeline),
            (c.Seed, c.TotalUpdates, c.Optimizer.BatchSize, c.Teacher.Pipeline)));
    }

    [Fact]
    public void ListItemsListValuesAndMissingMappingsCanBeSwept()
    {
        var variants = Expand("name: x\nstages:\n  - name: a\n    updates: 10\n    prompts: [{ set: 'toy:train' }]\n",
            new SweepAxis("stages[0].updates", ["100", "200"]),
            new SweepAxis("trajectory.guidance", ["[3.5]", "[2, 5]"]),
            new SweepAxis("optimizer.lr", ["0.001"]));

        var configs = variants.Select(v => RunConfig.FromYaml(v.ConfigYaml)).ToList();
        Assert.Equal([100L, 100, 200, 200], configs.Select(c => c.Stages[0].Updates));
        Assert.Equal([[3.5], [2.0, 5.0], [3.5], [2.0, 5.0]], configs.Select(c => c.Trajectory.Guidance));
        Assert.All(configs, c => Assert.Equal(0.001, c.Optimizer.Lr)); // the optimizer mapping did not exist
        Assert.Equal("lr study · updates=100, guidance=[2, 5], lr=0.001", variants[1].Name);
    }

    [Fact]
    public void AMappingValueSetsFieldsThatGoTogetherAndKeepsTheOthers()
    {
        // The paper's students: each size starts from its own pretrained T5, so preset and init vary together.
        var variants = Expand(Toy(c => c.Student.ProjectionDropout = 0.2), new SweepAxis("student",
            ["{preset: toy-small, init: models/t5-small}", "{preset: toy-base, init: models/t5-base}"]));
        var configs = variants.Select(v => RunConfig.FromYaml(v.ConfigYaml)).ToList();
        Assert.Equal([("toy-small", "models/t5-small"), ("toy-base", "models/t5-base")], configs.Select(c => (c.Student.Preset, c.Student.Init!)));
        Assert.All(configs, c => Assert.Equal(0.2, c.Student.ProjectionDropout)); // not named in the value: kept
        Assert.Equal("lr study · student={preset: toy-small, init: models/t5-small}", variants[0].Name);
    }

    [Fact]
    public void BadAxesAreNamedByAxisAndValueAndGiveNoRuns()
    {
        Assert.Equal([new FieldProblem("axes", "a sweep needs at least one field with values")], Problems(Toy()));
        Assert.Equal(
        [
            new FieldProblem("axes[0].field", "'Optimizer.LR' is not a YAML path (such as optimizer.lr or stages[0].updates)"),
            new FieldProblem("axes[1].values", "no values for 'seed'"),
            new FieldProblem("axes[2].values[1]", "an empty value"),
            new FieldProblem("axes[2].values[2]", "'1e-4' is given twice"),
            new FieldProblem("axes[3].field", "'optimizer.lr' is swept twice"),
        ], Problems(Toy(),
            new SweepAxis("Optimizer.LR", ["1"]),
            new SweepAxis("seed", []),
            new SweepAxis("optimizer.lr", ["1e-4", " ", "1e-4"]),
            new SweepAxis("optimizer.lr", ["2e-4"])).Take(5));
        Assert.Equal([new FieldProblem("axes[0].values[0]", "'[1, 2' is not a YAML value (quote text that holds ':' or '#')")],
            Problems(Toy(), new SweepAxis("trajectory.guidance", ["[1, 2"])));
        Assert.Equal([new FieldProblem("axes[0].field", "the runs' names come from the sweep's name and values: sweep another field")],
            Problems(Toy(), new SweepAxis("name", ["a", "b"])));

        var tooMany = Enumerable.Range(0, 9).Select(i => i.ToString()).ToList();
        Assert.Equal([new FieldProblem("axes", "81 combinations: a sweep queues at most 64 runs")],
            Problems(Toy(), new SweepAxis("seed", tooMany), new SweepAxis("threads", tooMany)));

        Assert.Equal([new FieldProblem("axes[0].field", "'stages[3]' is not in the configuration (it has 1 items)")],
            Problems(Toy(), new SweepAxis("stages[3].updates", ["5"])));
        Assert.Equal([new FieldProblem("axes[0].field", "'seed' is not a mapping, so it has no 'x'")],
            Problems(Toy(), new SweepAxis("seed.x", ["5"])));
    }

    [Theory]
    [InlineData("linspace(0, 0.2, 5)", new[] { "0", "0.05", "0.1", "0.15", "0.2" })]
    [InlineData("linspace(2, 5, 4)", new[] { "2", "3", "4", "5" })]
    [InlineData("geomspace(1e-5, 1e-3, 5)", new[] { "1e-5", "3.16e-5", "1e-4", "3.16e-4", "0.001" })]
    [InlineData("logspace(-4, -2, 3)", new[] { "1e-4", "0.001", "0.01" })]
    [InlineData("geomspace(-8, -2, 3)", new[] { "-8", "-4", "-2" })]
    [InlineData("range(0, 4)", new[] { "0", "1", "2", "3" })]
    [InlineData("range(10, 0, -4)", new[] { "10", "6", "2" })]
    [InlineData("linspace(7, 9, 1)", new[] { "7" })]
    public void RangesStandForTheirValuesWithThreeSignificantDigits(string text, string[] expected)
    {
        var variants = Expand(Toy(), new SweepAxis("optimizer.lr", [text]));
        Assert.Equal(expected.Select(v => $"lr study · lr={v}"), variants.Select(v => v.Name));
        // The YAML holds exactly the number the name shows.
        Assert.Equal(expected.Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)),
            variants.Select(v => RunConfig.FromYaml(v.ConfigYaml).Optimizer.Lr));
    }

    [Fact]
    public void RangesMixWithValuesAndTheirProblemsAreNamed()
    {
        Assert.Equal(["lr study · seed=5", "lr study · seed=0", "lr study · seed=1"],
            Expand(Toy(), new SweepAxis("seed", ["5", "range(0, 2)"])).Select(v => v.Name));
        Assert.Equal(
        [
            new FieldProblem("axes[0].values[0]", "linspace(0, 1): linspace takes 3 numbers (linspace(start, stop, count))"),
            new FieldProblem("axes[0].values[1]", "geomspace(0, 1, 3): geomspace needs two ends of the same sign, neither 0"),
            new FieldProblem("axes[0].values[2]", "range(0, 4, 0): the step must not be 0"),
            new FieldProblem("axes[0].values[3]", "range(3, 1): gives no values (the end is left out)"),
            new FieldProblem("axes[0].values[4]", "linspace(0, x, 3): 'x' is not a number"),
            new FieldProblem("axes[0].values[5]", "linspace(0, 1, 2.5): the count must be a whole number from 1 to 1,000"),
            new FieldProblem("axes[0].values[6]", "range(0.5, 3): range takes whole numbers"),
            new FieldProblem("axes[0].values[7]", "linspace(1, 1.001, 3) gives '1' twice (at three significant digits)"),
            new FieldProblem("axes[0].values[8]", "loguniform(1e-5, 1e-3) is drawn at random: choose random search (a number of runs), or give values"),
        ], Problems(Toy(), new SweepAxis("optimizer.lr", ["linspace(0, 1)", "geomspace(0, 1, 3)", "range(0, 4, 0)", "range(3, 1)", "linspace(0, x, 3)",
            "linspace(0, 1, 2.5)", "range(0.5, 3)", "linspace(1, 1.001, 3)", "loguniform(1e-5, 1e-3)"])));
        Assert.Equal([new FieldProblem("axes", "100 combinations: a sweep queues at most 64 runs")],
            Problems(Toy(), new SweepAxis("seed", ["range(0, 100)"])));
    }

    [Fact]
    public void RandomSearchDrawsTheRunsItIsAskedForTheSameForTheSameSeed()
    {
        SweepAxis[] axes = [new("optimizer.lr", ["loguniform(1e-5, 1e-3)"]), new("student.preset", ["toy-small", "toy-base", "toy-large"]),
            new("student.projection_dropout", ["uniform(0, 0.2)"])];
        IReadOnlyList<SweepVariant> Draw(int seed)
        {
            var variants = RunSweep.Expand("random", Toy(), axes, out var problems, new SweepSearch(20, seed));
            Assert.Empty(problems);
            return variants;
        }
        var runs = Draw(seed: 3);
        Assert.Equal(20, runs.Count);
        Assert.Equal(runs.Select(r => r.Name), Draw(seed: 3).Select(r => r.Name));
        Assert.NotEqual(runs.Select(r => r.Name), Draw(seed: 4).Select(r => r.Name));
        Assert.Equal(20, runs.Select(r => r.Name).Distinct().Count());
        var configs = runs.Select(r => RunConfig.FromYaml(r.ConfigYaml)).ToList();
        Assert.All(configs, c => Assert.InRange(c.Optimizer.Lr, 1e-5, 1e-3));
        Assert.All(configs, c => Assert.InRange(c.Student.ProjectionDropout, 0, 0.2));
        Assert.All(configs, c => Assert.Contains(c.Student.Preset, (string[])["toy-small", "toy-base", "toy-large"]));
        // Drawn evenly in the logarithm: both decades are drawn, and the name holds the YAML's number.
        Assert.Contains(configs, c => c.Optimizer.Lr < 1e-4);
        Assert.Contains(configs, c => c.Optimizer.Lr > 1e-4);
        Assert.All(runs.Zip(configs), p => Assert.Contains($"lr={SweepValues.Number(p.Second.Optimizer.Lr)},", p.First.Name));
        Assert.True(configs.Select(c => c.Student.Preset).Distinct().Count() > 1);
    }

    [Fact]
    public void RandomSearchProblemsAreNamedAtItsFields()
    {
        IReadOnlyList<FieldProblem> Problems(SweepSearch search, params SweepAxis[] axes)
        {
            var variants = RunSweep.Expand("random", Toy(), axes, out var problems, search);
            Assert.Empty(variants);
            return problems;
        }
        Assert.Equal([new FieldProblem("randomRuns", "0 runs: random search draws 1 to 64")], Problems(new SweepSearch(0), new SweepAxis("seed", ["1", "2"])));
        Assert.Equal([new FieldProblem("randomRuns", "65 runs: random search draws 1 to 64")], Problems(new SweepSearch(65), new SweepAxis("seed", ["1", "2"])));
        Assert.Equal([new FieldProblem("randomSeed", "only random search takes a seed: give the number of runs to draw too")],
            Problems(new SweepSearch(null, 7), new SweepAxis("seed", ["1"])));
        Assert.Equal([new FieldProblem("randomRuns", "these values make only 6 different runs: draw at most 6, or queue them all as a grid")],
            Problems(new SweepSearch(7), new SweepAxis("seed", ["1", "2"]), new SweepAxis("student.preset", ["toy-small", "toy-base", "toy-large"])));
        Assert.Equal([new FieldProblem("axes[0].values[1]", "uniform(0, 1) must be the field's only value (it draws every run's value)")],
            Problems(new SweepSearch(4), new SweepAxis("optimizer.lr", ["0.1", "uniform(0, 1)"])));
        Assert.Equal([new FieldProblem("axes[0].values[0]", "uniform(1, 1): the low end must be below the high end")],
            Problems(new SweepSearch(4), new SweepAxis("optimizer.lr", ["uniform(1, 1)"])));
        Assert.Equal([new FieldProblem("axes[0].values[0]", "loguniform(0, 1): loguniform needs positive ends")],
            Problems(new SweepSearch(4), new SweepAxis("optimizer.lr", ["loguniform(0, 1)"])));
        // Six lists' combinations drawn six times are the whole grid, in a random order.
        var all = RunSweep.Expand("random", Toy(), [new SweepAxis("seed", ["1", "2"]), new SweepAxis("student.preset", ["toy-small", "toy-base", "toy-large"])],
            out var none, new SweepSearch(6));
        Assert.Empty(none);
        Assert.Equal(Expand(Toy(), new SweepAxis("seed", ["1", "2"]), new SweepAxis("student.preset", ["toy-small", "toy-base", "toy-large"]))
            .Select(v => v.Name.Replace("lr study", "random")).Order(), all.Select(v => v.Name).Order());
    }

    [Theory]
    [InlineData(1e-4, "1e-4")]
    [InlineData(3.16227766e-4, "3.16e-4")]
    [InlineData(0.00099999, "0.001")]
    [InlineData(0.30000000000000004, "0.3")]
    [InlineData(12.3456, "12.3")]
    [InlineData(123456.7, "1.23e5")]
    [InlineData(-0.0000123, "-1.23e-5")]
    [InlineData(42.0, "42")]
    [InlineData(0.0, "0")]
    [InlineData(9.996e-5, "1e-4")]
    public void NumbersAreWrittenWithThreeSignificantDigits(double x, string expected) => Assert.Equal(expected, SweepValues.Number(x));

    [Theory]
    [InlineData("1e-4, 3e-4 ,1e-3", new[] { "1e-4", "3e-4", "1e-3" })]
    [InlineData("[2, 3], [4]", new[] { "[2, 3]", "[4]" })]
    [InlineData("'a, b', \"c,d\", e", new[] { "'a, b'", "\"c,d\"", "e" })]
    [InlineData(" , ,", new string[0])]
    [InlineData("linspace(0, 1, 3), 5, range(1, 3)", new[] { "linspace(0, 1, 3)", "5", "range(1, 3)" })]
    public void TypedValuesAreSplitAtCommasOutsideBracketsAndQuotes(string text, string[] expected) =>
        Assert.Equal(expected, RunSweep.SplitValues(text));

    sealed record Setup(TestDatabase Db, SQLiteStorage Storage, RunService Runs);

    static async Task<Setup> SetUpAsync()
    {
        var db = await TestDatabase.CreateAsync();
        var options = new StudioOptions { DataDirectory = db.Directory };
        var storage = new SQLiteStorage(Path.Combine(db.Directory, "hangfire.db"));
        return new Setup(db, storage, new RunService(db, new BackgroundJobClient(storage), new RunFeed(), options));
    }

    [Fact]
    public async Task ASweepQueuesOneRunPerCombinationInOneGroup()
    {
        var s = await SetUpAsync();
        var runs = await s.Runs.CreateSweepAsync(" seeds ", Toy(), [new SweepAxis("seed", ["1", "2", "3"])], "cpu");

        await using var db = s.Db.CreateDbContext();
        var stored = await db.Runs.OrderBy(r => r.Id).ToListAsync();
        Assert.Equal(["seeds · seed=1", "seeds · seed=2", "seeds · seed=3"], stored.Select(r => r.Name));
        Assert.All(stored, r => Assert.Equal(("seeds", RunState.Queued, "cpu"), (r.Group, r.State, r.Queue)));
        Assert.Equal([1, 2, 3], stored.Select(r => RunConfig.FromYaml(r.ConfigYaml).Seed));
        // Queued, each says the updates its configuration makes (the Runs list's "0 / 400"), as a single run does.
        Assert.All(stored, r => Assert.Equal(RunConfig.FromYaml(Toy()).TotalUpdates, r.TotalSteps));
        Assert.True(stored[0].TotalSteps > 0);
        Assert.Equal(3, s.Storage.GetMonitoringApi().EnqueuedCount("cpu"));
        Assert.Equal(runs.Select(r => r.Id), stored.Select(r => r.Id));
        Assert.Contains("one of the 3 runs of sweep 'seeds' (seed=2)", db.RunEvents.Where(e => e.RunId == stored[1].Id).Select(e => e.Message).Single());

        // The group can be read back alone, and changed or cleared on one run.
        var data = new RunData(s.Db);
        Assert.Equal(3, (await data.RunsAsync("seeds")).Count);
        Assert.Empty(await data.RunsAsync("other"));
        Assert.Equal("kept", (await s.Runs.EditAsync(stored[0].Id, null, null, " kept ")).Group);
        Assert.Null((await s.Runs.EditAsync(stored[0].Id, null, null, "")).Group);
    }

    [Fact]
    public async Task ASweepWithAnyBadRunQueuesNothingAndSaysWhichRunsAreBad()
    {
        var s = await SetUpAsync();
        var refused = await Assert.ThrowsAsync<RunActionException>(() => s.Runs.CreateSweepAsync("lr", Toy(c => c.Samples.Every = -1),
            [new SweepAxis("optimizer.lr", ["1e-4", "fast", "0"])]));

        // A problem all runs share is named once (the run whose YAML cannot be read is not checked further); one that
        // only some have names their values.
        var problems = refused.Problems.OrderBy(p => p.Field == "optimizer.lr").ToList();
        Assert.Equal(3, problems.Count);
        Assert.Equal(new FieldProblem("samples.every", "must not be negative (0 = no samples)"), problems[0]);
        Assert.Equal("optimizer.lr", problems[1].Field);
        Assert.Matches(@"^line \d+: 'fast' is not a number \(in lr=fast\)$", problems[1].Message);
        Assert.Equal(new FieldProblem("optimizer.lr", "0 must be positive (in lr=0)"), problems[2]);
        await using var db = s.Db.CreateDbContext();
        Assert.Empty(db.Runs);
        Assert.Empty(s.Storage.GetMonitoringApi().Queues());

        var named = await Assert.ThrowsAsync<RunActionException>(() => s.Runs.CreateSweepAsync(" ", Toy(), [new SweepAxis("seed", ["1"])], "Bad Queue"));
        Assert.Equal(["name", "queue"], named.Problems.Select(p => p.Field));
    }

    /// <summary>Job storage that fails at its <c>failAt</c>-th job (1-based), as a database that goes away mid-sweep does.</summary>
    sealed class FailingJobs(int failAt) : IBackgroundJobClient
    {
        public List<string> Created { get; } = [];
        public List<string> Deleted { get; } = [];

        public string Create(Hangfire.Common.Job job, Hangfire.States.IState state)
        {
            if (Created.Count + 1 == failAt) throw new InvalidOperationException("job storage is gone");
            Created.Add($"job-{Created.Count + 1}");
            return Created[^1];
        }

        public bool ChangeState(string jobId, Hangfire.States.IState state, string expectedState)
        {
            if (state is Hangfire.States.DeletedState) Deleted.Add(jobId);
            return true;
        }
    }

    [Fact]
    public async Task ASweepWhoseJobStorageFailsPartWayLeavesNoRunAndTakesBackItsJobs()
    {
        var db = await TestDatabase.CreateAsync();
        var jobs = new FailingJobs(failAt: 3);
        var runs = new RunService(db, jobs, new RunFeed(), new StudioOptions { DataDirectory = db.Directory });

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            runs.CreateSweepAsync("seeds", Toy(), [new SweepAxis("seed", ["1", "2", "3", "4"])], "cpu"));
        Assert.Equal("job storage is gone", failure.Message);
        Assert.Equal(["job-1", "job-2"], jobs.Created);
        Assert.Equal(["job-1", "job-2"], jobs.Deleted);
        await using var context = db.CreateDbContext();
        Assert.Empty(context.Runs);
        Assert.Empty(context.RunEvents);
    }
}
