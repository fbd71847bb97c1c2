using System.Diagnostics;
using SkiaSharp;
using Studio.Ml.Tests;
using Studio.Ml.Tests.Diffusion;

namespace Studio.Cli.Tests;

/// <summary>How every verb ends a failure (one line naming the fault, exit code 1, --verbose for the stack trace), and a quiet LibTorch.</summary>
[Collection("console")]
public class CliErrorsTests(TinyFluxPipelineFolder tiny) : IClassFixture<TinyFluxPipelineFolder>
{
    /// <summary>A copy of the tiny pipeline whose transformer weights claim a 9,999,999,999-byte header.</summary>
    string DamagedPipeline()
    {
        var folder = TestPaths.NewTempDirectory("damaged-pipeline");
        foreach (var file in Directory.GetFiles(tiny.Folder, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(folder, Path.GetRelativePath(tiny.Folder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        var weights = Path.Combine(folder, "transformer", "diffusion_pytorch_model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        BitConverter.GetBytes(9_999_999_999UL).CopyTo(bytes, 0);
        File.WriteAllBytes(weights, bytes);
        return folder;
    }

    [Fact]
    public void EvalOnADamagedCheckpointPrintsOneLineNamingTheFileAndTheFault()
    {
        var report = Path.Combine(TestPaths.NewTempDirectory("eval-damaged"), "report.json");
        var (code, output, error) = Cli.Run("eval", "--pipeline", DamagedPipeline(), "--count", "1", "--seeds", "1", "--report", report);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("studio eval: ", line);
        Assert.EndsWith("transformer/diffusion_pytorch_model.safetensors: header length 9999999999 exceeds the limit of 104857600 bytes", line);
        Assert.False(File.Exists(report));
    }

    [Fact]
    public void AFileGivenAsTheTeacherImagesFolderIsRefusedBeforeAnythingIsDrawn()
    {
        var dir = TestPaths.NewTempDirectory("cli-teacher-images");
        var file = Path.Combine(dir, "images");
        File.WriteAllText(file, "not a folder");
        var report = Path.Combine(dir, "report.json");
        var (code, output, error) = Cli.Run("eval", "--count", "1", "--steps", "2", "--teacher-images", file, "--report", report);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal($"studio eval: {file}: a file, not a folder to keep the teacher's images in", Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.False(File.Exists(report));
    }

    [Theory]
    [InlineData(new[] { "eval", "--count" }, "studio eval: ", "--count")]
    [InlineData(new[] { "bogus" }, "studio: ", "'bogus'")] // the unknown word, not "Required command was not provided"
    [InlineData(new[] { "toy", "bogus" }, "studio toy: ", "'bogus'")]
    [InlineData(new[] { "sample", "--prompt", "a cat" }, "studio sample: ", "--pipeline")]
    [InlineData(new[] { "toy", "pretrain", "--no-such-option" }, "studio toy pretrain: ", "--no-such-option")]
    [InlineData(new[] { "eval", "--seeds", "many" }, "studio eval: ", "many")]
    public void ACommandLineThatDoesNotParseEndsInOneLine(string[] args, string prefix, string named)
    {
        var (code, output, error) = Cli.Run(args);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(prefix, line);
        Assert.Contains(named, line);
        Assert.EndsWith("--help` lists the options)", line);
    }

    /// <summary>
    /// Values no verb can use are refused before anything is loaded or drawn, naming the option and the value, and leave
    /// nothing behind ({dir} stands for a fresh folder, where the case checks that nothing was written).
    /// </summary>
    [Theory]
    [InlineData("studio sample: --guidance: NaN is not a number from 0 to 100", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--guidance", "NaN")]
    [InlineData("studio sample: --guidance: -1E+308 is not a number from 0 to 100", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--guidance", "-1e308")]
    [InlineData("studio sample: --dtype: 'fp16' is not float32 or bfloat16", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--dtype", "fp16")]
    [InlineData("studio eval: --dtype: 'half' is not float32 or bfloat16", "eval", "--pipeline", "toy", "--dtype", "half")]
    [InlineData("studio sample: --steps: 0 must be at least 1", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--steps", "0")]
    [InlineData("studio sample: --max-sequence-length: 0 is not between 1 and 512", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--max-sequence-length", "0")]
    [InlineData("studio sample: --vae-tile: 0 is not a positive number of pixels", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--vae-tile", "0")]
    [InlineData("studio sample: --out {dir}/x.jpg: studio sample writes PNG images; give a .png file or a folder", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.jpg")]
    [InlineData("studio sample: Cannot parse argument 'abc' for option '--width' as a whole number. (`studio sample --help` lists the options)", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--width", "abc")]
    [InlineData("studio sample: --guidance: 1E+308 is not a number from 0 to 100", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--guidance", "1e308")]
    [InlineData("studio bench series: --points: -1 is not at least 1", "bench", "series", "--points", "-1")]
    [InlineData("studio sample: --width/--height: 100000x64 is more than 4096 pixels a side", "sample", "--pipeline", "toy", "--prompt", "a", "--out", "{dir}/x.png", "--width", "100000", "--height", "64")]
    [InlineData("studio eval: --guidance: NaN is not a number from 0 to 100", "eval", "--guidance", "NaN", "--report", "{dir}/r.json")]
    [InlineData("studio eval: --steps: 0 must be at least 1", "eval", "--steps", "0", "--report", "{dir}/r.json")]
    [InlineData("studio eval: --true-cfg: 0.5 is not a number of at least 1 (1: off)", "eval", "--true-cfg", "0.5", "--report", "{dir}/r.json")]
    [InlineData("studio export: --dtype: unknown dtype 'int3' (use float32, bf16 or fp16)", "export", "{dir}/step-1", "--out", "{dir}/export", "--dtype", "int3")]
    [InlineData("studio bench load: --size-mb: -5 must be at least 1", "bench", "load", "--size-mb", "-5")]
    [InlineData("studio cache fill: --max-length: 100000 is not between 1 and 512", "cache", "fill", "--teacher", "toy", "--prompts", "toy:train", "--max-length", "100000", "--cache", "{dir}/cache")]
    [InlineData("studio toy study: --updates: 0 must be at least 1", "toy", "study", "--out", "{dir}/study", "--updates", "0")]
    [InlineData("studio toy pretrain: --pure-noise: 1.5 must be between 0 and 1", "toy", "pretrain", "--out", "{dir}/teacher", "--pure-noise", "1.5")]
    [InlineData("studio toy pretrain: --flux-ink-weight: -1 must be 0 or more", "toy", "pretrain", "--out", "{dir}/teacher", "--flux-ink-weight", "-1")]
    [InlineData("studio toy pretrain: --dtype: 'float16' is not float32 or bfloat16", "toy", "pretrain", "--out", "{dir}/teacher", "--dtype", "float16")]
    [InlineData("studio toy pretrain: --pooled-dropout: -0.5 must be between 0 and 1", "toy", "pretrain", "--out", "{dir}/teacher", "--pooled-dropout", "-0.5")]
    [InlineData("studio toy pretrain: --from {dir}: no vae/ folder there; a toy teacher folder (FluxPipeline layout) is needed", "toy", "pretrain", "--out", "{dir}/teacher", "--from", "{dir}")]
    [InlineData("studio toy pretrain: --vae-only trains the autoencoder, which --from takes as it is: pass one of them", "toy", "pretrain", "--out", "{dir}/teacher", "--from", "toy", "--vae-only")]
    [InlineData("studio toy pretrain: --vae-from {dir}: no vae/ folder there; a toy teacher folder (FluxPipeline layout) is needed", "toy", "pretrain", "--out", "{dir}/teacher", "--vae-from", "{dir}")]
    [InlineData("studio toy pretrain: --vae-only trains the autoencoder, which --vae-from takes as it is: pass one of them", "toy", "pretrain", "--out", "{dir}/teacher", "--vae-from", "toy", "--vae-only")]
    [InlineData("studio toy pretrain: --from continues a teacher's transformer and --vae-from trains a new one on a teacher's autoencoder: pass one of them", "toy", "pretrain", "--out", "{dir}/teacher", "--from", "toy", "--vae-from", "toy")]
    // Where the results go, checked before anything is loaded or computed (they failed after the whole evaluation).
    [InlineData("studio eval: --report {dir}: a folder, not a file", "eval", "--count", "1", "--report", "{dir}")]
    [InlineData("studio eval: --sheet {dir}: a folder, not a file", "eval", "--count", "1", "--report", "{dir}/r.json", "--sheet", "{dir}")]
    [InlineData("studio toy ceiling: --report {dir}: a folder, not a file", "toy", "ceiling", "--report", "{dir}")]
    [InlineData("studio toy score: --report {dir}: a folder, not a file", "toy", "score", "{dir}", "--report", "{dir}")]
    public void AValueNoVerbCanUseIsRefusedByOptionBeforeAnyWork(string expected, params string[] args)
    {
        var dir = TestPaths.NewTempDirectory("cli-bad-value");
        var (code, output, error) = Cli.Run(args.Select(a => a.Replace("{dir}", dir)).ToArray());
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal(expected.Replace("{dir}", dir), Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
    }

    [Fact]
    public void CacheFillRefusesMoreTokensThanTheTeachersTokenizerTakes()
    {
        var dir = TestPaths.NewTempDirectory("cli-cache-tokens");
        var (code, _, error) = Cli.Run("cache", "fill", "--teacher", "toy", "--prompts", "toy:train", "--max-length", "100", "--cache", Path.Combine(dir, "cache"));
        Assert.Equal(1, code);
        Assert.StartsWith("studio cache fill: --max-length: 100 exceeds the teacher tokenizer's model_max_length 32 (", error);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
    }

    [Fact]
    public void AnOutputPathThatIsAFolderOrLiesUnderAFileIsNamedAndNothingIsWritten()
    {
        var dir = TestPaths.NewTempDirectory("cli-out-paths");
        var prompts = Path.Combine(dir, "prompts.jsonl");
        File.WriteAllText(prompts, "{\"text\": \"a red circle\"}\n");
        var folder = Directory.CreateDirectory(Path.Combine(dir, "ids.jsonl")).FullName;
        var (code, _, error) = Cli.Run("tokenize", "--tokenizer", Path.Combine(TestPaths.Tokenizers, "t5"), "--in", prompts, "--out", folder);
        Assert.Equal(1, code);
        Assert.Equal($"studio tokenize: {folder}: a folder, not a file", error.Trim());
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));

        var underFile = Path.Combine(prompts, "ids.jsonl");
        (code, _, error) = Cli.Run("tokenize", "--tokenizer", Path.Combine(TestPaths.Tokenizers, "t5"), "--in", prompts, "--out", underFile);
        Assert.Equal(1, code);
        Assert.Equal($"studio tokenize: {underFile}: {prompts} is a file, not a folder", error.Trim());
    }

    [Theory]
    [InlineData(new string[0], "studio: name one of its commands (version, fixture, toy, bench, tokenize, distill, export, cache, sample, eval)", "distill")]
    [InlineData(new[] { "toy" }, "studio toy: name one of its commands (", "pretrain")]
    public void AVerbGroupAloneListsItsCommandsAndFails(string[] args, string line, string listed)
    {
        var (code, output, error) = Cli.Run(args);
        Assert.Equal(1, code);
        Assert.Contains("Commands:", output);
        Assert.Contains(listed, output);
        Assert.StartsWith(line, Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void VerboseAddsTheStackTrace()
    {
        var (code, _, error) = Cli.Run("eval", "--verbose", "--pipeline", DamagedPipeline(), "--count", "1", "--seeds", "1",
            "--report", Path.Combine(TestPaths.NewTempDirectory("eval-verbose"), "report.json"));
        Assert.Equal(1, code);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("studio eval: ", lines[0]);
        Assert.Contains("header length 9999999999", lines[0]);
        Assert.Contains(lines, l => l.TrimStart().StartsWith("at Studio.Ml.Tensors.SafeTensorsFile.Open", StringComparison.Ordinal));
    }

    [Fact]
    public void AFailureOfANestedVerbIsNamedWithItsParents()
    {
        var (code, _, error) = Cli.Run("bench", "load", Path.Combine(TestPaths.NewTempDirectory("bench-missing"), "none.safetensors"));
        Assert.Equal(1, code);
        Assert.Matches(@"^studio bench load: \S+none\.safetensors: no such checkpoint file or folder\n$", error);
    }

    [Fact]
    public void SampleRunsTheBuiltInToyTeacherLikeEval()
    {
        var output = Path.Combine(TestPaths.NewTempDirectory("sample-toy"), "toy.png");
        var (code, stdout, error) = Cli.Run("sample", "--pipeline", "toy", "--prompt", "a red circle", "--steps", "2", "--width", "64", "--height", "64", "--out", output);
        Assert.True(code == 0, error);
        Assert.Contains("load pipeline:", stdout);
        using var image = SKBitmap.Decode(output);
        Assert.Equal((64, 64), (image.Width, image.Height));
    }

    /// <summary>
    /// LibTorch logs "Could not initialize NNPACK!" on every convolution of a CPU NNPACK does not support; a computing
    /// verb (the VAE decoder convolves) run as its own process, where LibTorch writes to the real stderr, prints none.
    /// </summary>
    [Fact]
    public async Task AComputingVerbPrintsNoNnpackWarnings()
    {
        var output = Path.Combine(TestPaths.NewTempDirectory("sample-nnpack"), "image.png");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "exec", Path.Combine(AppContext.BaseDirectory, "studio.dll"), "sample", "--pipeline", tiny.Folder, "--prompt", "a red circle",
                     "--steps", "1", "--width", "16", "--height", "16", "--max-sequence-length", "16", "--out", output })
            info.ArgumentList.Add(arg);
        info.Environment.Remove("TORCH_CPP_LOG_LEVEL");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(process.ExitCode == 0, stderr + await stdout);
        Assert.True(File.Exists(output));
        Assert.DoesNotContain("NNPACK", stderr);
    }
}
