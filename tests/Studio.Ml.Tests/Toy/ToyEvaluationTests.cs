using System.Text.Json;
using SkiaSharp;
using Studio.Ml.Diffusion;
using Studio.Ml.Distillation;
using Studio.Ml.Models.T5;
using Studio.Ml.Toy;
using TorchSharp;

namespace Studio.Ml.Tests.Toy;

/// <summary>`studio eval`'s routine on the shipped teacher, at tiny settings (1 prompt per category, 2 steps).</summary>
public class ToyEvaluationTests
{
    public ToyEvaluationTests() => TorchRuntime.Initialise();

    [Fact]
    public void ScoresEveryCategoryAndWritesAReadableReport()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var options = new ToyEvaluationOptions { PromptsPerCategory = 1, Seeds = 2, Steps = 2, BatchSize = 3 };
        var root = TestPaths.NewTempDirectory("toy-eval");
        var sheet = Path.Combine(root, "sheet.png");
        var result = ToyEvaluation.Run(pipeline, null, options, sheet: new ToyEvaluationSheet(sheet, "toy"));

        Assert.Equal(ToyCriteria.Categories, result.Categories.Select(c => c.Category));
        Assert.All(result.Categories, c => Assert.Equal(2, c.Count));
        Assert.Equal(10, result.Items.Count);
        Assert.All(result.Items, i => Assert.InRange(i.Score!.Value, 0, 1));
        Assert.True(result.FrechetAll is > 0 and < double.PositiveInfinity, $"FD {result.FrechetAll}");
        Assert.Equal(pipeline.T5.Module.parameters().Sum(p => p.numel()), result.EncoderParameters);
        Assert.Contains("text (char. accuracy)", result.Table());

        // Each item names its prompt, the prompt's scene and its seed: every prompt once per seed, seed 0 first.
        var prompts = options.Prompts();
        Assert.Equal(prompts.Concat(prompts).Select(p => p.Text), result.Items.Select(i => i.Prompt));
        Assert.Equal(prompts.Concat(prompts).Select(p => p.Category), result.Items.Select(i => i.Category));
        Assert.Equal(Enumerable.Repeat(0, 5).Concat(Enumerable.Repeat(1, 5)), result.Items.Select(i => i.Seed));
        try
        {
            var path = Path.Combine(root, "report.json");
            result.Save(path);
            using var json = JsonDocument.Parse(File.ReadAllText(path));
            Assert.Equal(5, json.RootElement.GetProperty("categories").GetArrayLength());
            Assert.Equal("heldout", json.RootElement.GetProperty("split").GetString());
            var items = json.RootElement.GetProperty("items").EnumerateArray().ToList();
            for (int i = 0; i < items.Count; i++)
            {
                Assert.Equal(prompts[i % 5].Text, items[i].GetProperty("prompt").GetString());
                Assert.Equal(prompts[i % 5].Scene, ToyScene.FromJson(items[i].GetProperty("scene").GetRawText(), $"items[{i}].scene"));
            }

            // The sheet: the first seed's 5 images in one row of 64 x 4 px tiles (2 px gaps), each with a caption band.
            Assert.Equal(["report.json", "sheet.png"], Directory.GetFiles(root).Select(Path.GetFileName).Order());
            using var png = SKBitmap.Decode(sheet);
            Assert.Equal(5 * 258, png.Width);
            Assert.True(png.Height > 258 + 2 * 12, $"sheet height {png.Height}: no room for a prompt and the label");
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void AStudentInTheSlotIsMeasuredAgainstTheTeachersOwnImagesFromTheSameNoise()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var options = new ToyEvaluationOptions { PromptsPerCategory = 1, Seeds = 2, Steps = 2, BatchSize = 3 };
        // The teacher evaluated as itself has nothing to be compared with.
        Assert.Null(ToyEvaluation.Run(pipeline, null, options).TeacherDifference);

        // The teacher's own encoder in the slot draws the teacher's images exactly: a difference of 0, image by image.
        var same = ToyEvaluation.Run(pipeline, pipeline.T5, options);
        Assert.Equal(0, same.TeacherDifference);
        Assert.All(same.Items, i => Assert.Equal(0, i.TeacherDifference));
        Assert.All(same.Categories, c => Assert.Equal(0, c.TeacherDifference));
        Assert.Equal(1.0, same.TeacherSimilarity!.Value, 12);
        Assert.All(same.Items, i => Assert.Equal(1.0, i.TeacherSimilarity!.Value, 12));
        Assert.Contains("mean |Δ| to teacher (/255)", same.Table());

        // An untrained student draws something else: each image differs, the headline is their mean, its interval holds it.
        using var student = StudentEncoder.Create(StudentPresets.Resolve(new StudentConfig { Preset = "toy-small" }),
            pipeline.Transformer.Config.JointAttentionDim, projectionDropout: 0, seed: 3);
        student.eval();
        using var slot = T5SlotEncoder.From(student);
        var other = ToyEvaluation.Run(pipeline, slot, options);
        Assert.All(other.Items, i => Assert.True(i.TeacherDifference > 0, $"{i.Prompt}: {i.TeacherDifference}"));
        Assert.Equal(other.Items.Average(i => i.TeacherDifference!.Value), other.TeacherDifference!.Value, 9);
        Assert.InRange(other.TeacherDifference.Value, other.Intervals!.TeacherDifference!.Low, other.Intervals.TeacherDifference.High);
        // Each category's difference is the mean over its own images (two per category: one prompt, two seeds).
        Assert.All(other.Categories, c => Assert.Equal(other.Items.Where(i => i.Category == c.Category).Average(i => i.TeacherDifference!.Value), c.TeacherDifference!.Value, 9));
        Assert.All(other.Categories, c => Assert.InRange(c.TeacherDifference!.Value, c.TeacherDifferenceInterval!.Low, c.TeacherDifferenceInterval.High));
        Assert.Contains("|Δ| ", other.Table().Split('\n').First(l => l.StartsWith("text ")));
        // Their SSIM likewise: below 1 image by image, the headline and each category the mean of their images'.
        Assert.All(other.Items, i => Assert.True(i.TeacherSimilarity < 1, $"{i.Prompt}: {i.TeacherSimilarity}"));
        Assert.Equal(other.Items.Average(i => i.TeacherSimilarity!.Value), other.TeacherSimilarity!.Value, 12);
        Assert.All(other.Categories, c => Assert.Equal(other.Items.Where(i => i.Category == c.Category).Average(i => i.TeacherSimilarity!.Value), c.TeacherSimilarity!.Value, 12));
        Assert.Contains("SSIM ", other.Table().Split('\n').First(l => l.StartsWith("text ")));
    }

    [Fact]
    public void TheTeachersImagesAreKeptAndAStudentsEvaluationComparesWithTheKeptOnes()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var options = new ToyEvaluationOptions { PromptsPerCategory = 1, Seeds = 2, Steps = 2, BatchSize = 3 };
        using var student = StudentEncoder.Create(StudentPresets.Resolve(new StudentConfig { Preset = "toy-small" }),
            pipeline.Transformer.Config.JointAttentionDim, projectionDropout: 0, seed: 3);
        student.eval();
        using var slot = T5SlotEncoder.From(student);
        var drawn = ToyEvaluation.Run(pipeline, slot, options);
        var root = TestPaths.NewTempDirectory("teacher-images");
        try
        {
            // The teacher's own evaluation keeps its images; the student's difference to the kept ones is the one it
            // gets by drawing the teacher's images itself, image by image.
            var store = new TeacherImageStore(root);
            ToyEvaluation.Run(pipeline, null, options, teacherImages: store);
            var key = TeacherImageStore.Key(pipeline, options);
            Assert.Equal([key + ".safetensors"], Directory.GetFiles(root).Select(Path.GetFileName));
            var kept = ToyEvaluation.Run(pipeline, slot, options, teacherImages: store);
            Assert.Equal(drawn.Items.Select(i => i.TeacherDifference), kept.Items.Select(i => i.TeacherDifference));

            // It reads them rather than drawing them: the teacher's encoder in the slot, against kept images replaced
            // by black ones, is not 0 (drawing the teacher's would give exactly 0).
            var black = Enumerable.Range(0, 10).Select(_ => new RgbImage(ToyImage.Size, ToyImage.Size, new byte[ToyImage.Length])).ToList();
            store.Keep(key, black);
            Assert.True(ToyEvaluation.Run(pipeline, pipeline.T5, options, teacherImages: store).TeacherDifference > 10);

            // A damaged file is drawn again (and kept again).
            File.WriteAllBytes(Path.Combine(root, key + ".safetensors"), [1, 2, 3]);
            Assert.Null(store.Find(key, 10, ToyImage.Size));
            Assert.Equal(drawn.TeacherDifference, ToyEvaluation.Run(pipeline, slot, options, teacherImages: store).TeacherDifference);
            Assert.NotNull(store.Find(key, 10, ToyImage.Size));
            Assert.Null(store.Find(key, 11, ToyImage.Size));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void TheKeyOfTheTeachersImagesChangesWithTheSettingsAndTheWeights()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var options = new ToyEvaluationOptions { PromptsPerCategory = 1, Steps = 2 };
        var key = TeacherImageStore.Key(pipeline, options);
        Assert.Equal(key, TeacherImageStore.Key(pipeline, options with { }));
        Assert.NotEqual(key, TeacherImageStore.Key(pipeline, options with { Steps = 3 }));
        Assert.NotEqual(key, TeacherImageStore.Key(pipeline, options with { BatchSize = 7 }));
        // One weight of the VAE changed (as a retrained teacher in the same folder would), then put back.
        using (torch.no_grad())
        {
            var weight = pipeline.Vae.parameters().First();
            weight.add_(1e-3);
            Assert.NotEqual(key, TeacherImageStore.Key(pipeline, options));
            weight.sub_(1e-3);
        }
        // Two values of a weight swapped: the same sum, another key.
        using (torch.no_grad())
        {
            var flat = pipeline.Transformer.parameters().First().view(-1);
            var (a, b) = (flat[0].item<float>(), flat[1].item<float>());
            Assert.NotEqual(a, b);
            flat[0] = torch.tensor(b);
            flat[1] = torch.tensor(a);
            Assert.NotEqual(key, TeacherImageStore.Key(pipeline, options));
        }
    }

    [Fact]
    public void AFileWhereTheStoreShouldBeIsRefusedAndAStoreThatCannotBeWrittenLosesNoEvaluation()
    {
        var root = TestPaths.NewTempDirectory("teacher-images");
        try
        {
            var file = Path.Combine(root, "images");
            File.WriteAllText(file, "not a folder");
            var refused = Assert.Throws<ArgumentException>(() => new TeacherImageStore(file));
            Assert.Contains(file, refused.Message);

            // A folder that turns into a file before the images are kept: the evaluation still returns, and says so.
            var folder = Path.Combine(root, "store");
            var store = new TeacherImageStore(folder);
            File.WriteAllText(folder, "in the way");
            using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
            var lines = new List<string>();
            var result = ToyEvaluation.Run(pipeline, null, new ToyEvaluationOptions { PromptsPerCategory = 1, Steps = 2 }, lines.Add, teacherImages: store);
            Assert.Equal(5, result.Items.Count);
            Assert.Contains(lines, l => l.StartsWith($"the teacher's images could not be kept in {folder}: "));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void TheStoreKeepsTheMostRecentlyUsedKeys()
    {
        var root = TestPaths.NewTempDirectory("teacher-images");
        try
        {
            var store = new TeacherImageStore(root);
            var image = new RgbImage(ToyImage.Size, ToyImage.Size, new byte[ToyImage.Length]);
            for (int i = 0; i <= TeacherImageStore.MaxEntries; i++)
            {
                store.Keep($"key{i:00}", [image]);
                File.SetLastWriteTimeUtc(Path.Combine(root, $"key{i:00}.safetensors"), new DateTime(2026, 1, 1).AddMinutes(i));
                if (i == 0) continue;
                // key00 is read after each write, so it stays the most recently used.
                Assert.NotNull(store.Find("key00", 1, ToyImage.Size));
            }
            var left = Directory.GetFiles(root).Select(Path.GetFileNameWithoutExtension).Order().ToList();
            Assert.Equal(TeacherImageStore.MaxEntries, left.Count);
            Assert.Contains("key00", left);
            Assert.DoesNotContain("key01", left);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void TheSameSeedsGiveTheSameScores()
    {
        using var pipeline = FluxPipeline.Load(ToyTeacher.Folder);
        var options = new ToyEvaluationOptions { PromptsPerCategory = 1, Steps = 2 };
        var first = ToyEvaluation.Run(pipeline, null, options);
        var second = ToyEvaluation.Run(pipeline, null, options);
        Assert.Equal(first.FrechetAll, second.FrechetAll);
        Assert.Equal(first.Items.Select(i => i.Detail), second.Items.Select(i => i.Detail));
    }

    [Fact]
    public void AMissingTextEncoderFolderIsNamed()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-student-" + Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<DirectoryNotFoundException>(() => ToyEvaluation.LoadTextEncoder2(missing));
        Assert.Contains(missing, error.Message);
    }
}
