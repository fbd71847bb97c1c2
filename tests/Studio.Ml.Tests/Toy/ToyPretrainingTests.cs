using Studio.Ml.Diffusion;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using Studio.Ml.Toy;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Toy;

public class ToyPretrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    readonly Xunit.Abstractions.ITestOutputHelper _output = InitialiseTorch(output);

    static Xunit.Abstractions.ITestOutputHelper InitialiseTorch(Xunit.Abstractions.ITestOutputHelper o) { TorchRuntime.Initialise(); return o; }

    [Fact]
    public void AFewStepsLowerBothLossesAndWriteALoadableTeacherFolder()
    {
        var root = TestPaths.NewTempDirectory("toy-pretrain");
        try
        {
            var options = new ToyPretrainingOptions
            {
                Architecture = ToyTeacherArchitecture.Tiny, BatchSize = 8, PoolSize = 16, EvalSize = 8,
                VaeSteps = 12, VaeLearningRate = 1e-3, FluxSteps = 12, FluxLearningRate = 1e-3, CheckpointEvery = 5, LogEvery = 1,
            };
            var folder = Path.Combine(root, "teacher");
            var result = new ToyPretraining(options, Path.Combine(root, "work"), _output.WriteLine).Run(folder, resume: false, "test");

            Assert.True(result.VaeEvalAfter < result.VaeEvalBefore, $"VAE held-out L1 {result.VaeEvalBefore} -> {result.VaeEvalAfter}");
            Assert.True(result.FluxEvalAfter < result.FluxEvalBefore, $"flow held-out MSE {result.FluxEvalBefore} -> {result.FluxEvalAfter}");
            AssertLoadsCleanly(folder);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void ResumeContinuesFromTheCheckpointAndRefusesAFullWorkFolderWithoutIt()
    {
        var root = TestPaths.NewTempDirectory("toy-pretrain-resume");
        try
        {
            var work = Path.Combine(root, "work");
            var options = new ToyPretrainingOptions
            {
                Architecture = ToyTeacherArchitecture.Tiny, BatchSize = 8, PoolSize = 8, EvalSize = 4,
                VaeSteps = 3, FluxSteps = 3, CheckpointEvery = 2, LogEvery = 100,
            };
            new ToyPretraining(options, work, _ => { }).Run(Path.Combine(root, "first"), resume: false, "test");
            Assert.Throws<IOException>(() => new ToyPretraining(options, work, _ => { }).Run(Path.Combine(root, "again"), resume: false, "test"));

            // A longer run resumes stage B from its step-2 checkpoint (stage A is complete and is reused).
            var log = new List<string>();
            new ToyPretraining(options with { FluxSteps = 4 }, work, log.Add).Run(Path.Combine(root, "second"), resume: true, "test");
            Assert.Contains(log, l => l.StartsWith("stage A: already done"));
            Assert.Contains(log, l => l.StartsWith("resuming from") && l.EndsWith("at step 2"));
            AssertLoadsCleanly(Path.Combine(root, "second"));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    /// <summary>Every component loads through its own class with a clean (strict) report, in bf16 on disk.</summary>
    internal static void AssertLoadsCleanly(string folder)
    {
        Assert.True(File.Exists(Path.Combine(folder, "model_index.json")));
        Assert.True(File.Exists(Path.Combine(folder, "README.md")));

        using (var vae = new AutoencoderKL(AutoencoderKLConfig.Load(Path.Combine(folder, "vae", "config.json"))))
        using (var checkpoint = Checkpoint.Open(Path.Combine(folder, "vae")))
            Assert.True(vae.Load(checkpoint).IsClean);

        using (var transformer = new FluxTransformer(FluxTransformerConfig.Load(Path.Combine(folder, "transformer", "config.json"))))
        using (var checkpoint = Checkpoint.Open(Path.Combine(folder, "transformer")))
        {
            var report = ModuleLoader.Load(transformer, checkpoint);
            Assert.True(report.IsClean, report.ToString());
            Assert.True(transformer.Config.GuidanceEmbeds);
        }

        var (t5, t5Report) = T5Encoder.Load(Path.Combine(folder, "text_encoder_2"));
        using (t5) Assert.True(t5Report.IsClean, t5Report.ToString());
        var (clip, clipReport) = ClipTextEncoder.Load(Path.Combine(folder, "text_encoder"));
        using (clip) Assert.True(clipReport.IsClean, clipReport.ToString());

        Assert.Equal("clip", TextTokenizer.Load(Path.Combine(folder, "tokenizer")).Kind);
        Assert.Equal("t5", TextTokenizer.Load(Path.Combine(folder, "tokenizer_2")).Kind);
        Assert.True(FlowMatchSchedulerConfig.Load(Path.Combine(folder, "scheduler", "scheduler_config.json")).UseDynamicShifting);

        foreach (var file in Directory.GetFiles(folder, "*.safetensors", SearchOption.AllDirectories))
        {
            using var weights = SafeTensorsFile.Open(file);
            Assert.All(weights.Entries.Values, e => Assert.Equal(ScalarType.BFloat16, e.DType));
        }
    }
}
