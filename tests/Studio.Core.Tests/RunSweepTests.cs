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
    [InlineData("1e-4, 3e-4 ,1e-3", new[] { "1e-4", "3e-4", "1e-3" })]
    [InlineData("[2, 3], [4]", new[] { "[2, 3]", "[4]" })]
    [InlineData("'a, b', \"c,d\", e", new[] { "'a, b'", "\"c,d\"", "e" })]
    [InlineData(" , ,", new string[0])]
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
}
