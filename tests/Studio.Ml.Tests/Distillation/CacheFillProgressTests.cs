using Studio.Ml.Distillation;
using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Distillation;

/// <summary>What a run reports while it fills the teacher-embedding cache before training: counted Progress events.</summary>
public class CacheFillProgressTests
{
    public CacheFillProgressTests() => TorchRuntime.Initialise();

    [Fact]
    public void TheFillLineSaysThePromptsDoneOfHowManyAndTheTimeLeft()
    {
        // 1,234 encoded in 60 s: 6,766 left take 6766 x 60 / 1234 = 329 s, 5.5 min.
        var e = DistillationSetup.FillEvent("teacher-embedding cache", new CachedTeacher.FillProgress(1234, 8000, 0, 1234), TimeSpan.FromSeconds(60));
        Assert.Equal(TrainingEventKind.Progress, e.Kind);
        Assert.Equal("filling the teacher-embedding cache: 1,234 / 8,000 prompts, ETA 5 min", e.Message);
        Assert.Equal("1234", e.Data![TrainingEventData.Done]);
        Assert.Equal("8000", e.Data[TrainingEventData.Total]);
        Assert.Equal("329", e.Data[TrainingEventData.EtaSeconds]);
        Assert.False(DistillationSetup.FillEvent("x", new(1000, 1000, 500, 500), TimeSpan.FromSeconds(10)).Data!.ContainsKey(TrainingEventData.EtaSeconds));
        // 500 already cached and 100 encoded in 10 s: 400 left take 40 s. Done: no time left to tell.
        Assert.EndsWith("600 / 1,000 prompts, ETA 40 s", DistillationSetup.FillEvent("x", new(600, 1000, 500, 100), TimeSpan.FromSeconds(10)).Message);
        Assert.EndsWith("1,000 / 1,000 prompts", DistillationSetup.FillEvent("x", new(1000, 1000, 500, 500), TimeSpan.FromSeconds(10)).Message);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(3)]
    public void TheSlicesOfAShardedFillAreDisjointEvenAndCoverEveryPrompt(int shards)
    {
        // The toy training prompts, with repeats: each process of a fill split n ways takes one slice.
        var prompts = ToyWorld.PromptSet("toy:train:1200").Concat(ToyWorld.PromptSet("toy:heldout:300")).Select(p => p.Text).ToList();
        var distinct = prompts.Distinct().ToList();
        var slices = Enumerable.Range(0, shards).Select(i => CachedTeacher.Slice(prompts, i, shards)).ToList();
        Assert.Equal(distinct.Order(StringComparer.Ordinal), slices.SelectMany(s => s).Order(StringComparer.Ordinal));
        // Even within a few percent (binomial: 3 standard deviations of 1,200 / n is under 5 points of it).
        foreach (var slice in slices) Assert.InRange(slice.Count, distinct.Count / shards * 0.85, distinct.Count / shards * 1.15);
        Assert.Equal(slices[1], CachedTeacher.Slice(prompts, 1, shards)); // the same in every process
        Assert.Throws<ArgumentException>(() => CachedTeacher.Slice(prompts, shards, shards));
    }

    [Fact]
    public void PreparingARunReportsTheFillFromNothingToEveryPrompt()
    {
        var work = TestPaths.NewTempDirectory("fill-progress");
        try
        {
            File.WriteAllLines(Path.Combine(work, "prompts.txt"), ["a blue square", "two green stars", "a yellow triangle", "a blue square"]);
            var config = new RunConfig
            {
                Name = "fill", Seed = 3, BaseDirectory = work,
                Teacher = new TeacherConfig { Pipeline = ToyTeacher.Folder },
                Student = new StudentConfig { Preset = "toy-small" },
                Text = new TextConfig { MaxLength = 8 },
                Optimizer = new OptimizerConfig { BatchSize = 1 },
                Stages = [new StageConfig { Prompts = [new PromptSource { Set = "prompts.txt" }], Resolution = 64, Updates = 1 }],
                Samples = new SampleConfig { Every = 0 },
                Validation = new ValidationConfig { Every = 0 },
            };
            Assert.Empty(DistillationSetup.Validate(config));
            var reporter = new RecordingReporter();
            using (DistillationSetup.Prepare(config, Path.Combine(work, "cache"), reporter, CancellationToken.None)) { }

            var counted = reporter.Events.Where(e => e.Data?.ContainsKey(TrainingEventData.Done) == true).ToList();
            Assert.All(counted, e => Assert.Equal(TrainingEventKind.Progress, e.Kind));
            Assert.All(counted, e => Assert.Equal("3", e.Data![TrainingEventData.Total]));   // 3 distinct prompts
            Assert.Equal("0", counted[0].Data![TrainingEventData.Done]);
            Assert.Equal("3", counted[^1].Data![TrainingEventData.Done]);
            Assert.Equal("filling the teacher-embedding cache: 3 / 3 prompts", counted[^1].Message);
            // What follows the fill (loading the transformer) is an uncounted activity.
            var after = reporter.Events.SkipWhile(e => e != counted[^1]).Skip(1).Where(e => e.Kind == TrainingEventKind.Progress).ToList();
            Assert.NotEmpty(after);
            Assert.All(after, e => Assert.Null(e.Data));
        }
        finally { Directory.Delete(work, recursive: true); }
    }
}
