using Studio.Ml.Distillation;
using Studio.Ml.Diffusion;
using Studio.Ml.Tests.Diffusion;
using Studio.Ml.Toy;
using Studio.Ml.Training;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Toy;

/// <summary>
/// Teacher agreement (`studio eval --agreement-only`): a student in the T5 slot of any FLUX pipeline (here a tiny one
/// with the real layout, not of the toy world) at any size, measured only by its |Δ| to the teacher's own images.
/// </summary>
public class TeacherAgreementTests(TinyFluxPipelineFolder tiny) : IClassFixture<TinyFluxPipelineFolder>
{
    static readonly ToyEvaluationOptions Agreement = new()
    {
        ScoreScenes = false, Resolution = 32, PromptsPerCategory = 1, Seeds = 2, Steps = 2, BatchSize = 3, MaxSequenceLength = 16,
    };

    [Fact]
    public void AnEvaluationKeepsTheFirstSeedsImagesOfTwoPromptsPerCategoryWithTheTeachersBeside()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        using var student = ToyEvaluation.LoadTextEncoder2(tiny.StudentDistillT5);
        var folder = Directory.CreateTempSubdirectory("studio-eval-samples-").FullName;
        var options = Agreement with { PromptsPerCategory = 3, Seeds = 2 };
        var result = ToyEvaluation.Run(pipeline, student, options, samplesFolder: folder);

        var prompts = options.Prompts().ToList();
        var samples = result.Samples!;
        // Two prompts of each category (of three), in the prompts' order, from the first seed (images 0 .. prompts - 1).
        Assert.Equal(ToyCriteria.Categories.Length * ToyEvaluation.SamplesPerCategory, samples.Count);
        Assert.All(ToyCriteria.Categories, c => Assert.Equal(prompts.Where(p => p.Category == c).Take(2).Select(p => p.Text),
            samples.Where(x => x.Category == c).Select(x => x.Prompt)));
        Assert.Equal(ToyCriteria.Categories.SelectMany(c => new[] { c, c }), samples.Select(x => x.Category)); // category by category
        foreach (var sample in samples)
        {
            var index = prompts.FindIndex(p => p.Text == sample.Prompt);
            var item = result.Items[index];
            Assert.Equal((0, sample.Prompt), (item.Seed, item.Prompt));
            // The PNGs hold the very colours measured: read back, they give the item's |Δ| and SSIM.
            var (mine, teacher) = (RgbImage.FromPng(Path.Combine(folder, sample.Image)), RgbImage.FromPng(Path.Combine(folder, sample.TeacherImage!)));
            Assert.Equal((32, 32), (mine.Width, mine.Height));
            Assert.Equal(item.TeacherDifference!.Value, mine.MeanDifference(teacher), 12);
            Assert.Equal(item.TeacherSimilarity!.Value, mine.StructuralSimilarity(teacher), 12);
            Assert.Equal((item.TeacherDifference, item.TeacherSimilarity), (sample.TeacherDifference, sample.TeacherSimilarity));
        }
        Assert.Equal(2 * samples.Count, Directory.GetFiles(folder).Length);

        // The teacher evaluated as itself keeps its own images only; without a folder nothing is kept.
        var own = ToyEvaluation.Run(pipeline, null, options, samplesFolder: Directory.CreateTempSubdirectory("studio-eval-samples-").FullName);
        Assert.All(own.Samples!, x => Assert.Equal((null, null, null), (x.TeacherImage, x.TeacherDifference, x.TeacherSimilarity)));
        Assert.Null(ToyEvaluation.Run(pipeline, student, options).Samples);
    }

    [Fact]
    public void AStudentsDifferenceIsTheMeanOfItsPngColoursAgainstTheTeachersFromTheSameNoise()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        using var student = ToyEvaluation.LoadTextEncoder2(tiny.StudentDistillT5);
        var result = ToyEvaluation.Run(pipeline, student, Agreement);

        // Nothing is scored: no toy scores anywhere, only the differences.
        Assert.Null(result.Semantics);
        Assert.Null(result.Text);
        Assert.Null(result.FrechetAll);
        Assert.Null(result.ImageQualityFrechet);
        Assert.All(result.Items, i => Assert.Null(i.Score));
        Assert.All(result.Categories, c => Assert.Null(c.Score));
        Assert.Equal(ToyCriteria.Categories, result.Categories.Select(c => c.Category));
        Assert.All(result.Categories, c => Assert.Equal(2, c.Count));
        Assert.Equal(10, result.Items.Count);

        // Each image's difference, recomputed here from the pipeline's own calls: the same prompts in the same batches
        // and seeds, round(x * 255) colours, mean |student - teacher| over pixels and channels.
        var prompts = Agreement.Prompts();
        var expected = new List<double>();
        var expectedSsim = new List<double>();
        for (int seed = 0; seed < Agreement.Seeds; seed++)
            for (int start = 0; start < prompts.Count; start += Agreement.BatchSize)
            {
                var request = new FluxRequest(prompts.Skip(start).Take(Agreement.BatchSize).Select(p => p.Text).ToList(),
                    DeterministicRandom.Seed(seed, "toy-eval", start), Agreement.Steps, Agreement.Guidance, 32, 32, Agreement.MaxSequenceLength);
                using var mine = pipeline.Generate(request, textEncoder2: student);
                using var own = pipeline.Generate(request);
                Assert.Equal([mine.Count, 3L, 32, 32], mine.Images.shape);
                using var a = (mine.Images * 255).round();
                using var b = (own.Images * 255).round();
                using var perImage = (a - b).abs().to_type(ScalarType.Float64).mean([1, 2, 3]);
                expected.AddRange(perImage.data<double>().ToArray());
                // And each image's SSIM (RgbImage's, checked against scikit-image in RgbImageTests) on the same 8-bit colours.
                expectedSsim.AddRange(RgbImage.FromBatch(mine.Images).Zip(RgbImage.FromBatch(own.Images), (m, o) => m.StructuralSimilarity(o)));
            }
        Assert.Equal(expected.Count, result.Items.Count);
        for (int i = 0; i < expected.Count; i++) Assert.Equal(expected[i], result.Items[i].TeacherDifference!.Value, 9);
        Assert.All(expected, d => Assert.True(d > 0, "an untrained student should not draw the teacher's images"));
        Assert.Equal(expected.Average(), result.TeacherDifference!.Value, 9);
        Assert.InRange(result.TeacherDifference.Value, result.Intervals!.TeacherDifference!.Low, result.Intervals.TeacherDifference.High);
        Assert.All(result.Categories, c => Assert.Equal(result.Items.Where(i => i.Category == c.Category).Average(i => i.TeacherDifference!.Value), c.TeacherDifference!.Value, 9));
        Assert.Contains("mean |Δ| to teacher (/255)", result.Table());
        for (int i = 0; i < expectedSsim.Count; i++) Assert.Equal(expectedSsim[i], result.Items[i].TeacherSimilarity!.Value, 12);
        Assert.All(expectedSsim, v => Assert.True(v is > -1 and < 1, $"SSIM {v}: images that differ are below 1"));
        Assert.Equal(expectedSsim.Average(), result.TeacherSimilarity!.Value, 12);
        Assert.InRange(result.TeacherSimilarity.Value, result.Intervals!.TeacherSimilarity!.Low, result.Intervals.TeacherSimilarity.High);
        Assert.All(result.Categories, c => Assert.Equal(result.Items.Where(i => i.Category == c.Category).Average(i => i.TeacherSimilarity!.Value), c.TeacherSimilarity!.Value, 12));
        Assert.Contains("SSIM to teacher (higher)", result.Table());
        Assert.DoesNotContain("semantics (mean)", result.Table());
        Assert.Contains("teacher agreement at 32 px (no toy scores)", result.Table());
        Assert.Equal(32, result.AgreementResolution);

        // The teacher's own encoder in its slot agrees exactly.
        var itself = ToyEvaluation.Run(pipeline, pipeline.T5, Agreement);
        Assert.Equal((0.0, 1.0), (itself.TeacherDifference!.Value, itself.TeacherSimilarity!.Value));
    }

    [Fact]
    public void TheTeachersImagesOfAnySizeAreKeptAndComparedWith()
    {
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        using var student = ToyEvaluation.LoadTextEncoder2(tiny.StudentT5WithProjection);
        var drawn = ToyEvaluation.Run(pipeline, student, Agreement);
        var root = TestPaths.NewTempDirectory("teacher-images-32");
        try
        {
            var store = new TeacherImageStore(root);
            var teacher = ToyEvaluation.Run(pipeline, null, Agreement, teacherImages: store);
            Assert.Null(teacher.TeacherDifference);
            var key = TeacherImageStore.Key(pipeline, Agreement);
            Assert.NotNull(store.Find(key, 10, 32));
            Assert.Null(store.Find(key, 10, 64));
            var lines = new List<string>();
            var kept = ToyEvaluation.Run(pipeline, student, Agreement, lines.Add, teacherImages: store);
            Assert.Contains(lines, l => l.EndsWith("(the teacher's from its store)"));
            Assert.Equal(drawn.Items.Select(i => i.TeacherDifference), kept.Items.Select(i => i.TeacherDifference));
            // Another size is another key.
            Assert.NotEqual(key, TeacherImageStore.Key(pipeline, Agreement with { Resolution = 48 }));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Theory]
    [InlineData(true, 32, "the toy world's scenes are scored at 64 px (got 32)")]
    [InlineData(false, 40, "--resolution: 40 is not a multiple of 16")]
    [InlineData(false, 0, "--resolution: 0 is not a multiple of 16")]
    public void SizesThatCannotBeDrawnOrScoredAreRefusedByName(bool scoreScenes, int resolution, string message)
    {
        var options = new ToyEvaluationOptions { ScoreScenes = scoreScenes, Resolution = resolution };
        Assert.Contains(message, options.Problem());
        using var pipeline = FluxPipeline.Load(tiny.Folder);
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => ToyEvaluation.Run(pipeline, pipeline.T5, options)).Message);
    }

    [Fact]
    public void AnSd3PipelinesStudentIsMeasuredTheSameWay()
    {
        using var sd3 = new TinySd3PipelineFolder();
        using var pipeline = TeacherFamily.LoadPipeline(sd3.Folder);
        Assert.IsType<Sd3Pipeline>(pipeline);
        using var student = ToyEvaluation.LoadTextEncoder2(sd3.StudentDistillT5);
        var options = Agreement with { Seeds = 1 };
        var result = ToyEvaluation.Run(pipeline, student, options);
        Assert.Null(result.Semantics);
        Assert.Equal(5, result.Items.Count);

        // Each image's difference from the SD3 pipeline's own calls (classifier-free guidance at the guidance scale).
        var prompts = options.Prompts();
        var expected = new List<double>();
        for (int start = 0; start < prompts.Count; start += options.BatchSize)
        {
            var request = new Sd3Request(prompts.Skip(start).Take(options.BatchSize).Select(p => p.Text).ToList(),
                DeterministicRandom.Seed(0, "toy-eval", start), options.Steps, options.Guidance, 32, 32, MaxSequenceLength: options.MaxSequenceLength);
            var sd3Pipeline = (Sd3Pipeline)pipeline;
            using var mine = sd3Pipeline.Generate(request, textEncoder3: student);
            using var own = sd3Pipeline.Generate(request);
            using var a = (mine.Images * 255).round();
            using var b = (own.Images * 255).round();
            using var perImage = (a - b).abs().to_type(ScalarType.Float64).mean([1, 2, 3]);
            expected.AddRange(perImage.data<double>().ToArray());
        }
        for (int i = 0; i < expected.Count; i++) Assert.Equal(expected[i], result.Items[i].TeacherDifference!.Value, 9);
        Assert.All(expected, d => Assert.True(d > 0));

        // A true-CFG scale means nothing to SD3; a pipeline without T5 has no slot to evaluate.
        Assert.Contains("SD3 always uses classifier-free guidance",
            Assert.Throws<ArgumentException>(() => ToyEvaluation.Run(pipeline, student, options with { TrueCfgScale = 3 })).Message);
        using var withoutT5 = TeacherFamily.LoadPipeline(sd3.FolderWithoutT5);
        Assert.Contains("has no T5 encoder (text_encoder_3)", Assert.Throws<ArgumentException>(() => ToyEvaluation.Run(withoutT5, student, options)).Message);
    }
}
