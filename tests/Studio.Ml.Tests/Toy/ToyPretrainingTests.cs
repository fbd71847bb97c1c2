using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Flux;
using Studio.Ml.Models.T5;
using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Text;
using Studio.Ml.Toy;
using Studio.Ml.Tests.Training;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Toy;

public class ToyPretrainingTests(ITestOutputHelper output)
{
    readonly ITestOutputHelper _output = InitialiseTorch(output);

    static ITestOutputHelper InitialiseTorch(ITestOutputHelper o) { TorchRuntime.Initialise(); return o; }

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
    public void PromptDropoutTrainsTheEmptyPromptAndTheReadmeSaysSo()
    {
        var root = TestPaths.NewTempDirectory("toy-pretrain-dropout");
        try
        {
            var options = new ToyPretrainingOptions
            {
                Architecture = ToyTeacherArchitecture.Tiny, BatchSize = 8, PoolSize = 16, EvalSize = 8,
                VaeSteps = 3, FluxSteps = 12, FluxLearningRate = 1e-3, PromptDropout = 0.5, CheckpointEvery = 100, LogEvery = 100,
            };
            var folder = Path.Combine(root, "teacher");
            var result = new ToyPretraining(options, Path.Combine(root, "work"), _output.WriteLine).Run(folder, resume: false, "test");
            Assert.True(result.FluxEvalAfter < result.FluxEvalBefore, $"flow held-out MSE {result.FluxEvalBefore} -> {result.FluxEvalAfter}");
            Assert.Contains("0.5 of prompts dropped to the empty prompt", File.ReadAllText(Path.Combine(folder, "README.md")));

            // The teacher samples with true classifier-free guidance against the empty prompt.
            using var pipeline = FluxPipeline.Load(folder);
            using var generated = pipeline.Generate(new FluxRequest(["a red circle"], 7, Steps: 2, Guidance: 3.5, Width: ToyRenderer.Size,
                Height: ToyRenderer.Size, MaxSequenceLength: ToyTeacherArchitecture.T5TextLength, TrueCfgScale: 3, NegativePrompt: ""));
            Assert.True(generated.Images.isfinite().all().item<bool>(), "the guided sample has non-finite pixels");
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void ThreeVaeBlocksGiveA16x16LatentThatTheWholeTeacherIsBuiltFor()
    {
        var root = TestPaths.NewTempDirectory("toy-pretrain-latent16");
        try
        {
            var architecture = ToyTeacherArchitecture.Tiny with { VaeBlockOutChannels = [8, 16, 32] };
            // Two down-samplings: 64 / 4 = 16 latent pixels a side, 8 x 8 = 64 tokens after 2x2 packing.
            Assert.Equal((16, 64), (architecture.LatentSize, architecture.ImageTokens));
            var options = new ToyPretrainingOptions
            {
                Architecture = architecture, BatchSize = 4, PoolSize = 8, EvalSize = 4,
                VaeSteps = 3, FluxSteps = 3, CheckpointEvery = 100, LogEvery = 100,
            };
            var work = Path.Combine(root, "work");

            // Stage A alone first (--vae-only), then the whole run resumes from it. Asked to resume a work folder that
            // holds nothing yet, it says it starts from the beginning (a mistyped folder is seen at once).
            var started = new List<string>();
            var (stageA, vaeFolder) = new ToyPretraining(options, work, started.Add).RunAutoencoder(resume: true);
            Assert.Contains($"--resume: {work} holds no run yet, so this one starts from the beginning", started);
            Assert.True(stageA.VaeEvalAfter < stageA.VaeEvalBefore, $"VAE held-out L1 {stageA.VaeEvalBefore} -> {stageA.VaeEvalAfter}");
            using (var vae = AutoencoderKL.FromPretrained(vaeFolder))
            using (no_grad())
            using (var images = ToyImage.Stack(ToyPrompts.HeldOut(ToyCriteria.All, 2).Select(p => ToyRenderer.Render(p.Scene)).ToList()))
            using (var posterior = vae.Encode(images))
                Assert.Equal([2L, 16, 16, 16], posterior.Mean.shape);

            var log = new List<string>();
            var folder = Path.Combine(root, "teacher");
            new ToyPretraining(options, work, log.Add).Run(folder, resume: true, "test");
            Assert.Contains(log, l => l.StartsWith("stage A: already done"));
            Assert.DoesNotContain(log, l => l.StartsWith("--resume:"));
            AssertLoadsCleanly(folder);

            var scheduler = FlowMatchSchedulerConfig.Load(Path.Combine(folder, "scheduler", "scheduler_config.json"));
            Assert.Equal((64, 1024), (scheduler.BaseImageSeqLen, scheduler.MaxImageSeqLen)); // 64x64 and 256x256 images
            using var pipeline = FluxPipeline.Load(folder);
            Assert.Equal(4, pipeline.Vae.Config.DownscaleFactor);
            using var generated = pipeline.Generate(new FluxRequest(["a red circle", "a sign reading 'hi'"], 7, Steps: 2, Guidance: 3.5,
                Width: ToyRenderer.Size, Height: ToyRenderer.Size, MaxSequenceLength: ToyTeacherArchitecture.T5TextLength));
            Assert.Equal([2L, 3, 64, 64], generated.Images.shape);
            Assert.True(generated.Images.isfinite().all().item<bool>(), "the sample has non-finite pixels");
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

    /// <summary>
    /// --from continues a teacher: its autoencoder is taken as it is and stage B starts from its transformer and text
    /// encoders (no update: the same weights come back); a teacher of other sizes is refused naming its folder; and
    /// --vae-from trains a transformer of other sizes from scratch on that autoencoder; --pure-noise trains where a
    /// generation starts, at sigma 1: there it ends with a lower flow error than the same updates on logit-normal sigmas
    /// alone; --pooled-dropout trains the T5 path, the one students replace.
    /// </summary>
    [Fact]
    public void FromContinuesATeacherPureNoiseTrainsSigmaOneAndPooledDropoutTeachesT5()
    {
        var root = TestPaths.NewTempDirectory("toy-pretrain-from");
        try
        {
            var options = new ToyPretrainingOptions
            {
                Architecture = ToyTeacherArchitecture.Tiny, BatchSize = 8, PoolSize = 16, EvalSize = 4,
                VaeSteps = 3, FluxSteps = 3, CheckpointEvery = 100, LogEvery = 100,
            };
            var first = Path.Combine(root, "first");
            new ToyPretraining(options, Path.Combine(root, "first.work"), _ => { }).Run(first, resume: false, "test");

            var log = new List<string>();
            var same = Path.Combine(root, "same");
            new ToyPretraining(options with { From = first, FluxSteps = 0, FluxInkWeight = 10 }, Path.Combine(root, "same.work"), log.Add).Run(same, resume: false, "test");
            Assert.Contains(log, l => l == $"stage A: skipped, the autoencoder of {first}");
            var readme = File.ReadAllText(Path.Combine(same, "README.md"));
            Assert.Contains($"trained further from the teacher in {first} by", readme);
            Assert.Contains("| stage A (AutoencoderKL) | none: the autoencoder of the teacher continued |", readme);
            Assert.Contains("rectified-flow MSE with image tokens weighted 1 + 10 x their share of ink, 0.1 of prompts dropped to the empty prompt;", readme);
            foreach (var part in new[] { "vae", "transformer", "text_encoder", "text_encoder_2" })
            {
                using var a = Checkpoint.Open(Path.Combine(first, part));
                using var b = Checkpoint.Open(Path.Combine(same, part));
                Assert.Equal(a.Names.Order(), b.Names.Order());
                foreach (var name in a.Names)
                {
                    using var x = a.Read(name);
                    using var y = b.Read(name);
                    Assert.True(x.eq(y).all().item<bool>(), $"{part}/{name} changed without an update");
                }
            }

            var wider = options with { From = first, Architecture = ToyTeacherArchitecture.Tiny with { FluxDoubleBlocks = ToyTeacherArchitecture.Tiny.FluxDoubleBlocks + 1 } };
            var refused = Assert.Throws<InvalidDataException>(() => new ToyPretraining(wider, Path.Combine(root, "wider.work"), _ => { }).Run(Path.Combine(root, "wider"), resume: false, "test"));
            Assert.StartsWith(Path.Combine(first, "transformer") + ": ", refused.Message);

            // --vae-from: a new transformer of those other sizes, from random initialisation, on the teacher's autoencoder.
            log.Clear();
            var onVae = Path.Combine(root, "on-vae");
            new ToyPretraining(wider with { From = null, VaeFrom = first, FluxSteps = 1 }, Path.Combine(root, "on-vae.work"), log.Add).Run(onVae, resume: false, "test");
            Assert.Contains(log, l => l == $"stage A: skipped, the autoencoder of {first}");
            Assert.Contains(log, l => l.StartsWith("stage B: transformer ") && l.EndsWith("at step 0"));
            using (var pipeline = FluxPipeline.Load(onVae))
                Assert.Equal(ToyTeacherArchitecture.Tiny.FluxDoubleBlocks + 1, pipeline.Transformer.Config.NumLayers);
            var onVaeReadme = File.ReadAllText(Path.Combine(onVae, "README.md"));
            Assert.Contains($"trained from random initialisation on the autoencoder of {first} by", onVaeReadme);
            Assert.Contains($"| stage A (AutoencoderKL) | none: the autoencoder of {first} |", onVaeReadme);
            using (var a = Checkpoint.Open(Path.Combine(first, "vae")))
            using (var b = Checkpoint.Open(Path.Combine(onVae, "vae")))
                foreach (var name in a.Names)
                {
                    using var x = a.Read(name);
                    using var y = b.Read(name);
                    Assert.True(x.eq(y).all().item<bool>(), $"vae/{name} is not the teacher's");
                }
            using (var a = Checkpoint.Open(Path.Combine(first, "transformer")))
            using (var b = Checkpoint.Open(Path.Combine(onVae, "transformer")))
            using (var x = a.Read("x_embedder.weight"))
            using (var y = b.Read("x_embedder.weight"))
                Assert.False(x.eq(y).all().item<bool>(), "the new transformer started from the teacher's");
            var both = Assert.Throws<ArgumentException>(() =>
                new ToyPretraining(options with { From = first, VaeFrom = first }, Path.Combine(root, "both.work"), _ => { }).Run(Path.Combine(root, "both"), resume: false, "test"));
            Assert.Contains("pass one of them", both.Message);

            double ErrorAtSigmaOne(string folder)
            {
                using var pipeline = FluxPipeline.Load(folder);
                var prompts = ToyPrompts.HeldOut(ToyCriteria.All, 4);
                var renders = prompts.Select(p => ToyRenderer.Render(p.Scene)).ToList();
                return ToyCeiling.FlowErrors(pipeline, prompts.Select(p => p.Text).ToList(), renders, new ToyCeilingOptions { Sigmas = [1.0] }, seed: 0).Average(e => e[0]);
            }
            var trained = options with { From = first, FluxSteps = 20, FluxLearningRate = 3e-3 };
            var (logitNormal, pureNoise) = (Path.Combine(root, "logit-normal"), Path.Combine(root, "pure-noise"));
            new ToyPretraining(trained, Path.Combine(root, "logit-normal.work"), _ => { }).Run(logitNormal, resume: false, "test");
            new ToyPretraining(trained with { PureNoise = 1 }, Path.Combine(root, "pure-noise.work"), _ => { }).Run(pureNoise, resume: false, "test");
            Assert.Contains(", 1 of each batch at sigma 1 (pure noise);", File.ReadAllText(Path.Combine(pureNoise, "README.md")));
            var (errorLogitNormal, errorPureNoise) = (ErrorAtSigmaOne(logitNormal), ErrorAtSigmaOne(pureNoise));
            _output.WriteLine($"flow error at sigma 1: {errorLogitNormal} after logit-normal sigmas, {errorPureNoise} after pure noise");
            Assert.True(errorPureNoise < errorLogitNormal, $"flow error at sigma 1: {errorPureNoise} after pure noise, {errorLogitNormal} without");

            // --pooled-dropout 1: CLIP is only ever given the empty prompt (T5 the prompt), so of CLIP's token embedding
            // only the empty prompt's rows learn; every other row only shrinks by AdamW's weight decay. Without it, the
            // rows of the prompts' words learn too.
            var pooledDropout = Path.Combine(root, "pooled-dropout");
            new ToyPretraining(trained with { PooledDropout = 1 }, Path.Combine(root, "pooled-dropout.work"), _ => { }).Run(pooledDropout, resume: false, "test");
            Assert.Contains(", 1 of each batch with CLIP given the empty prompt (T5 the prompt);", File.ReadAllText(Path.Combine(pooledDropout, "README.md")));
            var (emptyIds, emptyMask) = TextTokenizer.BuiltIn("clip").EncodeBatch([""], ToyTeacherArchitecture.ClipTextLength);
            var emptyRows = emptyIds.data<long>().ToArray().Distinct().ToList();
            emptyIds.Dispose(); emptyMask.Dispose();
            List<long> LearnedRows(string folder)
            {
                const string Name = "text_model.embeddings.token_embedding.weight";
                using var a = Checkpoint.Open(Path.Combine(first, "text_encoder"));
                using var b = Checkpoint.Open(Path.Combine(folder, "text_encoder"));
                using var before = a.Read(Name).to_type(ScalarType.Float32);
                using var after = b.Read(Name).to_type(ScalarType.Float32);
                using var change = (after - before).norm(1) / before.norm(1);
                // A learned row moves 1-2% in 20 updates; weight decay alone moves a row 0.03%, which bf16 rounding
                // keeps below 0.3% even where it flips the last bit of some numbers.
                return change.data<float>().Select((c, row) => (c, row)).Where(r => r.c > 0.005f).Select(r => (long)r.row).ToList();
            }
            var (withDropout, without) = (LearnedRows(pooledDropout), LearnedRows(logitNormal));
            _output.WriteLine($"CLIP token rows learned: {withDropout.Count} with pooled dropout 1 (the empty prompt has {emptyRows.Count}), {without.Count} without");
            Assert.NotEmpty(withDropout);
            Assert.Subset(emptyRows.ToHashSet(), withDropout.ToHashSet());
            Assert.Contains(without, row => !emptyRows.Contains(row));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    /// <summary>
    /// --dtype bfloat16: stage B computes in bf16 with float32 master weights. Its held-out loss follows the float32
    /// run's; its checkpoint holds float32 weights with values bf16 cannot hold (the masters, not the bf16 copies); a
    /// run resumed from that checkpoint ends with the teacher of one that was not interrupted; the README says so.
    /// </summary>
    [Fact]
    public void Bf16StageBFollowsFloat32AndCheckpointsItsFloat32Masters()
    {
        var root = TestPaths.NewTempDirectory("toy-pretrain-bf16");
        try
        {
            var options = new ToyPretrainingOptions
            {
                Architecture = ToyTeacherArchitecture.Tiny, BatchSize = 8, PoolSize = 16, EvalSize = 8,
                VaeSteps = 3, FluxSteps = 8, FluxLearningRate = 1e-3, CheckpointEvery = 4, LogEvery = 100,
            };
            var float32 = new ToyPretraining(options, Path.Combine(root, "f32.work"), _ => { }).Run(Path.Combine(root, "f32"), resume: false, "test");
            var bf16Options = options with { DType = ScalarType.BFloat16 };
            var bf16Work = Path.Combine(root, "bf16.work");
            var log = new List<string>();
            var bf16 = new ToyPretraining(bf16Options, bf16Work, log.Add).Run(Path.Combine(root, "bf16"), resume: false, "test");

            _output.WriteLine($"flow held-out MSE: float32 {float32.FluxEvalBefore:0.0000} -> {float32.FluxEvalAfter:0.0000}, bf16 {bf16.FluxEvalBefore:0.0000} -> {bf16.FluxEvalAfter:0.0000}");
            Assert.Contains(log, l => l.Contains("computing in bfloat16"));
            Assert.True(bf16.FluxEvalAfter < bf16.FluxEvalBefore, $"bf16 flow held-out MSE {bf16.FluxEvalBefore} -> {bf16.FluxEvalAfter}");
            Assert.True(Math.Abs(bf16.FluxEvalAfter - float32.FluxEvalAfter) < 0.02 * float32.FluxEvalAfter,
                $"bf16 ends at {bf16.FluxEvalAfter}, float32 at {float32.FluxEvalAfter}");
            Assert.Contains("bfloat16 compute with float32 master weights", File.ReadAllText(Path.Combine(root, "bf16", "README.md")));
            AssertLoadsCleanly(Path.Combine(root, "bf16"));

            // The step-4 checkpoint: float32 throughout, and not bf16 values widened.
            using (var weights = SafeTensorsFile.Open(Path.Combine(bf16Work, "stage-b", "weights.safetensors")))
            {
                Assert.All(weights.Entries.Values.Where(e => e.DType != ScalarType.Int64), e => Assert.Equal(ScalarType.Float32, e.DType));
                using var qkv = weights.Read("transformer.transformer_blocks.0.attn.to_q.weight");
                Assert.False(qkv.Same(qkv.to(ScalarType.BFloat16).to(ScalarType.Float32)), "the checkpoint holds bf16 values: the masters were not saved");
            }

            // Resumed from that checkpoint, the same run ends with the same teacher, bit for bit.
            new ToyPretraining(bf16Options, bf16Work, _ => { }).Run(Path.Combine(root, "resumed"), resume: true, "test");
            foreach (var file in new[] { "transformer/diffusion_pytorch_model.safetensors", "text_encoder_2/model.safetensors", "text_encoder/model.safetensors" })
                Assert.True(File.ReadAllBytes(Path.Combine(root, "bf16", file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(root, "resumed", file))),
                    $"{file} of the resumed run differs from the uninterrupted run's");
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void InkSharesAreEachImageTokensShareOfInkInPackedOrder()
    {
        // 64 px at a 16x16 latent: 8x8 image tokens of 8x8 px, row by row (FLUX's packing).
        var plain = new ToyBackground(BackgroundKind.Plain, BackgroundColour.White);
        var topRight = new ToyPrompt("a large red square", "image-quality", new ToyScene(plain, [new ToyObject(ToyShape.Square, ToyColour.Red, ToySize.Large, Col: 2, Row: 0)]));
        var bottomLeft = new ToyPrompt("a small blue cross", "image-quality", new ToyScene(plain, [new ToyObject(ToyShape.Cross, ToyColour.Blue, ToySize.Small, Col: 0, Row: 2)]));
        var empty = new ToyPrompt("a white background", "image-quality", new ToyScene(plain, []));
        using var shares = ToyPretraining.InkShares([topRight, bottomLeft, empty], latentSize: 16);
        Assert.Equal([3L, 64L], shares.shape);
        var values = shares.data<float>().ToArray();
        for (int i = 0; i < 3; i++)
        {
            var row = values.AsSpan(i * 64, 64).ToArray();
            var inkPixels = ToyRenderer.InkMask(new[] { topRight, bottomLeft, empty }[i].Scene).Sum();
            Assert.Equal(inkPixels, row.Sum() * 64, 1); // every ink pixel counted once, in its token
            Assert.All(row, share => Assert.InRange(share, 0f, 1f));
            var inked = Enumerable.Range(0, 64).Where(t => row[t] > 0).ToList();
            if (i == 2) { Assert.Empty(inked); continue; }
            // The object's cell: the top right (columns 5-7 of tokens, rows 0-2) or the bottom left (columns 0-2, rows 5-7).
            Assert.NotEmpty(inked);
            Assert.All(inked, t => Assert.True(i == 0 ? t % 8 >= 5 && t / 8 <= 2 : t % 8 <= 2 && t / 8 >= 5, $"token {t} (row {t / 8}, column {t % 8})"));
        }
        // A large square fills whole tokens; nothing fills a token on a plain background.
        Assert.Contains(values.Take(64), share => share == 1f);
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
