using SkiaSharp;
using Studio.Ml.Tests;
using Studio.Ml.Tests.Diffusion;

namespace Studio.Cli.Tests;

[Collection("console")]
public class SampleCommandTests(TinyFluxPipelineFolder tiny) : IClassFixture<TinyFluxPipelineFolder>
{
    static string[] Args(string pipeline, string output, params string[] extra) =>
        ["sample", "--pipeline", pipeline, "--seed", "11", "--steps", "2", "--guidance", "3.5", "--width", "16", "--height", "16",
         "--max-sequence-length", "16", "--out", output, .. extra];

    [Fact]
    public void WritesOnePngPerPromptAndPrintsTheStageTimes()
    {
        var dir = TestPaths.NewTempDirectory("sample");
        var (code, output, error) = Cli.Run(Args(tiny.Folder, dir, "--prompt", "a red circle", "--prompt", "the word 'cat'"));
        Assert.True(code == 0, error);
        foreach (var stage in new[] { "load pipeline:", "encode prompts:", "denoise:", "decode:" }) Assert.Contains(stage, output);
        var files = Directory.GetFiles(dir, "*.png").Order().ToArray();
        Assert.Equal(["image-0.png", "image-1.png"], files.Select(Path.GetFileName));
        using var image = SKBitmap.Decode(files[0]);
        Assert.Equal((16, 16), (image.Width, image.Height));

        // The same seed again, with a student in the T5 slot: deterministic, and different from the teacher's T5.
        var student = Path.Combine(TestPaths.NewTempDirectory("sample-student"), "one.png");
        var again = Path.Combine(TestPaths.NewTempDirectory("sample-student"), "one.png");
        Assert.Equal(0, Cli.Run(Args(tiny.Folder, student, "--prompt", "a red circle", "--text-encoder-2", tiny.StudentDistillT5)).Code);
        Assert.Equal(0, Cli.Run(Args(tiny.Folder, again, "--prompt", "a red circle", "--text-encoder-2", tiny.StudentDistillT5)).Code);
        Assert.Equal(File.ReadAllBytes(student), File.ReadAllBytes(again));
        Assert.NotEqual(File.ReadAllBytes(files[0]), File.ReadAllBytes(student));
    }

    [Fact]
    public void BadRequestsFailWithTheReason()
    {
        var dir = TestPaths.NewTempDirectory("sample-bad");
        var (code, _, error) = Cli.Run(Args(tiny.Folder, Path.Combine(dir, "x.png"), "--prompt", "a", "--prompt", "b"));
        Assert.Equal(1, code);
        Assert.Contains("2 prompts", error);
        (code, _, error) = Cli.Run(Args(tiny.Folder, dir, "--prompt", "a", "--dtype", "float8"));
        Assert.Equal(1, code);
        Assert.Contains("float8", error);
        (code, _, error) = Cli.Run(Args(Path.Combine(dir, "nowhere"), dir, "--prompt", "a"));
        Assert.Equal(1, code);
        Assert.Contains("model_index.json", error);
    }
}
