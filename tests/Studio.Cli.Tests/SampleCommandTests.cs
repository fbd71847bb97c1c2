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
        (code, _, error) = Cli.Run(Args(tiny.Folder, dir, "--prompt", "a", "--device", "gpu"));
        Assert.Equal(1, code);
        Assert.Contains("--device: 'gpu' is not cpu, cuda or cuda:N", error);
    }

    [Fact]
    public void CudaOnABuildWithoutItIsRefusedWithTheReason()
    {
        Studio.Ml.TorchRuntime.Initialise();
        if (Studio.Ml.TorchRuntime.CudaAvailable) return; // this process has CUDA: the refusal cannot happen here
        var dir = TestPaths.NewTempDirectory("sample-cuda");
        var (code, _, error) = Cli.Run(Args(tiny.Folder, dir, "--prompt", "a", "--device", "cuda"));
        Assert.Equal(1, code);
        Assert.Contains("cuda requested but this build's TorchSharp has no CUDA (torch.cuda.is_available() is false)", error);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void DeviceCpuGivesTheSameImageAsTheDefault()
    {
        var plain = Path.Combine(TestPaths.NewTempDirectory("sample-cpu"), "one.png");
        var onCpu = Path.Combine(TestPaths.NewTempDirectory("sample-cpu"), "one.png");
        Assert.Equal(0, Cli.Run(Args(tiny.Folder, plain, "--prompt", "a red circle")).Code);
        var (code, output, error) = Cli.Run(Args(tiny.Folder, onCpu, "--prompt", "a red circle", "--device", "cpu"));
        Assert.True(code == 0, error);
        Assert.Contains(", cpu)", output);
        Assert.Equal(File.ReadAllBytes(plain), File.ReadAllBytes(onCpu));
    }
}

[Collection("console")]
public class Sd3SampleCommandTests(TinySd3PipelineFolder tiny) : IClassFixture<TinySd3PipelineFolder>
{
    string[] Args(string output, params string[] extra) =>
        ["sample", "--pipeline", tiny.Folder, "--seed", "3", "--steps", "2", "--width", "16", "--height", "16",
         "--max-sequence-length", "16", "--out", output, .. extra];

    [Fact]
    public void AnSd3FolderSamplesWithItsOwnT5SlotAndNegativePrompts()
    {
        var dir = TestPaths.NewTempDirectory("sample-sd3");
        var plain = Path.Combine(dir, "plain.png");
        var negative = Path.Combine(dir, "negative.png");
        var student = Path.Combine(dir, "student.png");
        var (code, output, error) = Cli.Run(Args(plain, "--prompt", "a red circle"));
        Assert.True(code == 0, error);
        Assert.Contains("T5 slot: T5EncoderModel", output);
        Assert.Equal(0, Cli.Run(Args(negative, "--prompt", "a red circle", "--negative-prompt", "blurry")).Code);
        Assert.Equal(0, Cli.Run(Args(student, "--prompt", "a red circle", "--text-encoder-3", tiny.StudentDistillT5)).Code);
        Assert.NotEqual(File.ReadAllBytes(plain), File.ReadAllBytes(negative));
        Assert.NotEqual(File.ReadAllBytes(plain), File.ReadAllBytes(student));

        (code, _, error) = Cli.Run(Args(plain, "--prompt", "a", "--text-encoder-2", tiny.StudentDistillT5));
        Assert.Equal(1, code);
        Assert.Contains("--text-encoder-3", error);
    }
}
