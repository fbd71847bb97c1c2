using Studio.Ml.Distillation;
using Studio.Ml.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Distillation;

public class TrainingInfrastructureTests
{
    public TrainingInfrastructureTests() => TorchRuntime.Initialise();

    static PromptPool Pool(string name, int n, double weight = 1, int repeat = 1) =>
        new(name, Enumerable.Range(0, n).Select(i => new Prompt($"{name}-{i}", name)).ToList(), weight, repeat);

    [Fact]
    public void PromptMixResumesFromItsPositionExactly()
    {
        var pools = new[] { Pool("a", 7), Pool("b", 5, weight: 2) };
        var uninterrupted = new PromptMix(pools, seed: 3, stage: 0);
        var all = Enumerable.Range(0, 10).SelectMany(_ => uninterrupted.NextBatch(4)).ToList();

        var first = new PromptMix(pools, seed: 3, stage: 0);
        var head = Enumerable.Range(0, 4).SelectMany(_ => first.NextBatch(4)).ToList();
        var resumed = new PromptMix(pools, seed: 3, stage: 0, first.Position with { Cursors = (long[])first.Position.Cursors.Clone() });
        var tail = Enumerable.Range(0, 6).SelectMany(_ => resumed.NextBatch(4)).ToList();
        Assert.Equal(all, head.Concat(tail).ToList());
    }

    [Fact]
    public void PromptMixFollowsWeightsRepeatsAndCoversEachSourcePerPass()
    {
        var pools = new[] { Pool("a", 10), Pool("b", 10, repeat: 3) };
        var mix = new PromptMix(pools, seed: 1, stage: 0);
        var drawn = Enumerable.Range(0, 1000).SelectMany(_ => mix.NextBatch(4)).ToList();
        var shareB = drawn.Count(p => p.Category == "b") / (double)drawn.Count;
        Assert.InRange(shareB, 0.70, 0.80); // 3x the size-weighted share of a: 0.75
        // Within a source, each pass is a permutation: the first 10 prompts of source a are all distinct.
        Assert.Equal(10, drawn.Where(p => p.Category == "a").Take(10).Distinct().Count());
        Assert.NotEqual(drawn.Take(40), new PromptMix(pools, seed: 2, stage: 0).NextBatch(40));
    }

    [Fact]
    public void LearningRateSchedules()
    {
        Assert.Equal(1e-4, LearningRateSchedule.At("constant", 1e-4, 500, 1000, 0));
        Assert.Equal(0.5e-4, LearningRateSchedule.At("constant", 1e-4, 4, 1000, 10), 12);
        Assert.Equal(1e-4, LearningRateSchedule.At("cosine", 1e-4, 10, 110, 10), 12);
        Assert.Equal(0.5e-4, LearningRateSchedule.At("cosine", 1e-4, 60, 110, 10), 12);
        Assert.Equal(0, LearningRateSchedule.At("cosine", 1e-4, 110, 110, 10), 12);
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.At("exponential", 1e-4, 0, 10, 0));
    }

    [Fact]
    public void CheckpointRoundTripsAndDamageIsRefusedByName()
    {
        var root = TestPaths.NewTempDirectory("ckpt");
        var model = torch.nn.Sequential(("fc", torch.nn.Linear(4, 3)));
        var optimizer = torch.optim.AdamW(model.parameters(), lr: 1e-3);
        using (var loss = model.call(torch.randn(2, 4)).sum()) { loss.backward(); }
        optimizer.step();
        var state = new TrainingState
        {
            Stage = 1, StageUpdate = 5, GlobalStep = 12, BatchIndex = 3, TrajectoryStep = 2,
            BatchStartMix = new MixPosition(8, [5, 3]), Mix = new MixPosition(12, [7, 5]), ConfigYaml = "name: x\n",
        };
        using var latents = torch.randn(2, 4, 64);
        var first = TrainingCheckpoint.Save(root, model, optimizer, state with { GlobalStep = 10 }, null);
        var second = TrainingCheckpoint.Save(root, model, optimizer, state, latents);
        Assert.Equal(second, TrainingCheckpoint.LatestGood(root));

        var restored = torch.nn.Sequential(("fc", torch.nn.Linear(4, 3)));
        var restoredOptimizer = torch.optim.AdamW(restored.parameters(), lr: 1e-3);
        var (loaded, loadedLatents) = TrainingCheckpoint.Load(second, restored, restoredOptimizer);
        Assert.Equal(12, loaded.GlobalStep);
        Assert.Equal([7L, 5], loaded.Mix.Cursors);
        Assert.True(loadedLatents!.eq(latents).all().item<bool>());
        foreach (var (name, p) in model.state_dict())
            Assert.True(p.eq(restored.state_dict()[name]).all().item<bool>(), name);

        // Damage the newest: it is refused by name and the previous good one is chosen.
        var studentFile = Path.Combine(second, TrainingCheckpoint.StudentFile);
        var bytes = File.ReadAllBytes(studentFile);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(studentFile, bytes);
        var rejected = new List<string>();
        Assert.Equal(first, TrainingCheckpoint.LatestGood(root, (dir, why) => rejected.Add(why)));
        Assert.Contains(studentFile, Assert.Single(rejected));
        var e = Assert.Throws<CheckpointCorruptException>(() => TrainingCheckpoint.Verify(second));
        Assert.Contains("SHA-256", e.Message);
    }

    [Fact]
    public void TeacherCacheIsSharedAcrossInstancesAndKeyedByEverything()
    {
        var dir = TestPaths.NewTempDirectory("cache");
        var key = TeacherEmbeddingCache.Key("teacher-a", "t5", 77, "a red circle");
        Assert.NotEqual(key, TeacherEmbeddingCache.Key("teacher-b", "t5", 77, "a red circle"));
        Assert.NotEqual(key, TeacherEmbeddingCache.Key("teacher-a", "t5", 512, "a red circle"));
        using var states = torch.randn(77, 16);
        using (var writer = new TeacherEmbeddingCache(dir))
        {
            Assert.Null(writer.TryGet(key));
            writer.AddShard(new Dictionary<string, Tensor> { [key] = states }, ScalarType.BFloat16, new Dictionary<string, string>());
            Assert.Equal(1, writer.Count);
        }
        using var reader = new TeacherEmbeddingCache(dir);
        using var cached = reader.TryGet(key);
        Assert.NotNull(cached);
        Assert.Equal(ScalarType.Float32, cached!.dtype);
        Assert.True(cached.allclose(states.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32)));
        Assert.Equal(1, reader.Hits);
        Assert.True(reader.BytesOnDisk > 77 * 16 * 2);
    }
}
