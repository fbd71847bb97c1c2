namespace Studio.Cli.Tests;

/// <summary>What `studio eval --sheet` writes under each image besides its prompt: what made the image.</summary>
public class EvalCommandTests
{
    [Theory]
    [InlineData("toy", null, "toy")]
    [InlineData("/models/toy-teacher-v2/", null, "toy-teacher-v2")]
    [InlineData("toy", "/runs/base/checkpoints/step-00008000", "teacher + step-00008000")]
    [InlineData("/models/toy-teacher-v2", "runs/base/checkpoints/step-00000200/", "teacher + step-00000200")]
    public void TheSheetLabelNamesThePipelineOrTheCheckpoint(string pipeline, string? textEncoder2, string label) =>
        Assert.Equal(label, EvalCommand.SheetLabel(pipeline, textEncoder2));
}

/// <summary>`studio eval --agreement-only`: a student in any FLUX pipeline's T5 slot, against the teacher's own images.</summary>
[Collection("console")]
public class EvalAgreementCommandTests(Studio.Ml.Tests.Diffusion.TinyFluxPipelineFolder tiny) : IClassFixture<Studio.Ml.Tests.Diffusion.TinyFluxPipelineFolder>
{
    string[] Args(string report, params string[] extra) =>
        ["eval", "--pipeline", tiny.Folder, "--agreement-only", .. extra.Contains("--resolution") ? [] : new[] { "--resolution", "32" }, "--count", "1", "--steps", "1", "--max-sequence-length", "16",
         "--report", report, .. extra];

    [Fact]
    public void PrintsTheDifferenceToTheTeacherAndWritesItInTheReport()
    {
        var report = Path.Combine(Studio.Ml.Tests.TestPaths.NewTempDirectory("eval-agreement"), "report.json");
        var samples = Path.Combine(Path.GetDirectoryName(report)!, "samples");
        var (code, output, error) = Cli.Run(Args(report, "--text-encoder-2", tiny.StudentDistillT5, "--samples", samples));
        Assert.True(code == 0, error);
        Assert.Contains("mean |Δ| to teacher (/255)", output);
        Assert.Contains("SSIM to teacher (higher)", output);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(report));
        Assert.True(json.RootElement.GetProperty("teacherDifference").GetDouble() > 0);
        var similarity = json.RootElement.GetProperty("teacherSimilarity").GetDouble();
        Assert.True(similarity is > -1 and < 1, $"SSIM {similarity}");
        // --samples: one prompt per category here, each with the teacher's image beside the student's, listed in the report.
        Assert.Contains($"samples: 5 prompts' images in {samples}", output);
        var kept = json.RootElement.GetProperty("samples").EnumerateArray().ToList();
        Assert.Equal(5, kept.Count);
        Assert.All(kept, k => Assert.True(File.Exists(Path.Combine(samples, k.GetProperty("image").GetString()!))
            && File.Exists(Path.Combine(samples, k.GetProperty("teacherImage").GetString()!))));
        Assert.False(json.RootElement.TryGetProperty("semantics", out var semantics) && semantics.ValueKind != System.Text.Json.JsonValueKind.Null);
    }

    /// <summary>
    /// --lora merges a LoRA for the teacher's images and the student's alike: the report names it, the teacher's images
    /// are others (another key in --teacher-images), and so is the student's agreement with them.
    /// </summary>
    [Fact]
    public void ALoraIsMergedForTheTeacherAndTheStudentAndTheReportNamesIt()
    {
        var dir = Studio.Ml.Tests.TestPaths.NewTempDirectory("eval-lora");
        TorchSharp.torch.manual_seed(8);
        var lora = Path.Combine(dir, "style.safetensors");
        Studio.Ml.Tensors.SafeTensorsWriter.Save(lora, new Dictionary<string, TorchSharp.torch.Tensor>
        {
            ["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"] = TorchSharp.torch.randn(4, 32),
            ["transformer.transformer_blocks.0.attn.to_q.lora_B.weight"] = TorchSharp.torch.randn(32, 4),
        });
        var store = Path.Combine(dir, "teacher-images");
        string Report(string name) => Path.Combine(dir, name + ".json");
        var (code, _, error) = Cli.Run(Args(Report("plain"), "--text-encoder-2", tiny.StudentDistillT5, "--teacher-images", store));
        Assert.True(code == 0, error);
        (code, var output, error) = Cli.Run(Args(Report("lora"), "--text-encoder-2", tiny.StudentDistillT5, "--teacher-images", store, "--lora", lora, "--lora-scale", "2"));
        Assert.True(code == 0, error);
        Assert.Contains($"with LoRA {lora} x 2", output);
        Assert.Equal(2, Directory.GetFiles(store, "*.safetensors").Length);
        using var plain = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Report("plain")));
        using var merged = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Report("lora")));
        Assert.Equal((lora, 2.0), (merged.RootElement.GetProperty("lora").GetString(), merged.RootElement.GetProperty("loraScale").GetDouble()));
        Assert.False(plain.RootElement.TryGetProperty("lora", out var none) && none.ValueKind != System.Text.Json.JsonValueKind.Null);
        Assert.NotEqual(plain.RootElement.GetProperty("teacherDifference").GetDouble(), merged.RootElement.GetProperty("teacherDifference").GetDouble());
    }

    [Fact]
    public void WithAClipModelTheTeachersImagesGetTheirClipScoreEachAgainstItsPrompt()
    {
        var clip = Studio.Ml.Tests.Evaluation.TinyClipFolder.Create();
        var report = Path.Combine(Studio.Ml.Tests.TestPaths.NewTempDirectory("eval-clip"), "report.json");
        var samples = Path.Combine(Path.GetDirectoryName(report)!, "samples");
        var (code, output, error) = Cli.Run(Args(report, "--clip", clip, "--samples", samples));
        Assert.True(code == 0, error);
        Assert.Contains("CLIP score (higher)", output);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(report));
        var items = json.RootElement.GetProperty("items").EnumerateArray().ToList();
        var scores = items.Select(i => i.GetProperty("clipScore").GetDouble()).ToList();
        Assert.Equal(5, scores.Count);
        Assert.Equal(scores.Average(), json.RootElement.GetProperty("clipScore").GetDouble(), 9);
        Assert.All(json.RootElement.GetProperty("categories").EnumerateArray(), c =>
            Assert.Equal(items.Where(i => i.GetProperty("category").GetString() == c.GetProperty("category").GetString()).Average(i => i.GetProperty("clipScore").GetDouble()),
                c.GetProperty("clipScore").GetDouble(), 9));
        // Each kept image scored again on its own, from its PNG: the score the report gives its prompt.
        using var scorer = Studio.Ml.Evaluation.ClipScorer.Load(clip);
        foreach (var kept in json.RootElement.GetProperty("samples").EnumerateArray())
        {
            var prompt = kept.GetProperty("prompt").GetString()!;
            var image = Studio.Ml.Diffusion.RgbImage.FromPng(Path.Combine(samples, kept.GetProperty("image").GetString()!));
            var item = items.Single(i => i.GetProperty("prompt").GetString() == prompt);
            Assert.Equal(item.GetProperty("clipScore").GetDouble(), scorer.Score([prompt], [image])[0], 4);
        }
    }

    [Fact]
    public void AFolderThatIsNoClipModelIsRefusedByName()
    {
        var folder = Studio.Ml.Tests.TestPaths.NewTempDirectory("eval-clip-bad");
        var notClip = Directory.CreateDirectory(Path.Combine(folder, "not-clip")).FullName;
        File.Copy(Path.Combine(Studio.Ml.Tests.TestPaths.Fixture("clip_text"), "config.json"), Path.Combine(notClip, "config.json"));
        foreach (var file in Directory.GetFiles(Studio.Ml.Text.TextTokenizer.BuiltInFolder("clip"))) File.Copy(file, Path.Combine(notClip, Path.GetFileName(file)));
        File.Copy(Path.Combine(Studio.Ml.Tests.TestPaths.Fixture("clip_text"), "model.safetensors"), Path.Combine(notClip, "model.safetensors"));
        var report = Path.Combine(folder, "report.json");
        var (code, _, error) = Cli.Run(Args(report, "--clip", notClip));
        Assert.Equal(1, code);
        Assert.Contains(Path.Combine(notClip, "config.json"), error);
        Assert.Contains("field 'model_type' is 'clip_text_model', not 'clip'", error);
        Assert.False(File.Exists(report));
    }

    [Theory]
    [InlineData(new string[0], "--agreement-only measures a student against the teacher: give --text-encoder-2")]
    [InlineData(new[] { "--sheet", "x.png", "--teacher-images", "kept" }, "--sheet: the sheet shows toy images")]
    [InlineData(new[] { "--resolution", "40" }, "--resolution: 40 is not a multiple of 16")]
    public void RefusesWhatItCannotMeasureByName(string[] extra, string message)
    {
        var folder = Studio.Ml.Tests.TestPaths.NewTempDirectory("eval-agreement-refused");
        var report = Path.Combine(folder, "report.json");
        var (code, _, error) = Cli.Run(Args(report, extra));
        Assert.Equal(1, code);
        Assert.Contains(message, error);
        Assert.False(File.Exists(report));
    }
}
