using Studio.Cli;
using Studio.Ml.Tensors;
using Studio.Ml.Tests;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Cli.Tests;

[Collection("console")]
public class FixtureCommandTests
{
    /// <summary>Runs `studio fixture` on a reference folder and compares every output it names within <paramref name="tolerance"/>.</summary>
    static void AssertFixtureVerbReproduces(string name, Func<string, float, double> tolerance)
    {
        var fixture = TestPaths.Fixture(name);
        var output = Path.Combine(Directory.CreateTempSubdirectory("studio-fixture-").FullName, "out.safetensors");

        var code = StudioCli.Run(["fixture", fixture, "--out", output]);

        Assert.Equal(0, code);
        using var computed = SafeTensorsFile.Open(output);
        using var reference = SafeTensorsFile.Open(Path.Combine(fixture, "outputs.safetensors"));
        Assert.Equal(reference.Entries.Keys.Order(), computed.Entries.Keys.Order());
        foreach (var tensor in reference.Entries.Keys)
        {
            using var expected = reference.Read(tensor);
            using var actual = computed.Read(tensor);
            Assert.Equal(expected.shape, actual.shape);
            var maxRef = expected.abs().max().item<float>();
            var maxDiff = (actual - expected).abs().max().item<float>();
            Assert.True(maxDiff <= tolerance(tensor, maxRef), $"{tensor}: max|diff| {maxDiff:E3} (max|ref| {maxRef:G4})");
        }
    }

    [Fact]
    public void FixtureVerbComputesTheT5ReferenceOutputs() =>
        AssertFixtureVerbReproduces("t5_encoder_v11", (_, maxRef) => 1e-4 * Math.Max(1, maxRef));

    /// <summary>
    /// Relative to each tensor's own scale (its values are far below 1); the parameters after AdamW's first step to
    /// 1e-3, as in Studio.Ml.Tests' StepFollowingUpdateFixtureTests, which says why.
    /// </summary>
    [Fact]
    public void FixtureVerbComputesEveryOutputOfTheDistillUpdateCase() =>
        AssertFixtureVerbReproduces("distill_update", (tensor, maxRef) => (tensor.StartsWith("updated.", StringComparison.Ordinal) ? 1e-3 : 1e-4) * maxRef);

    /// <summary>
    /// --compare prints one line per output, "name TAB max|out - ref| / max|ref|", and the number is the one this test
    /// computes from the written file and the reference.
    /// </summary>
    [Fact]
    public void CompareNamesEveryOutputWithItsRelativeError()
    {
        var fixture = TestPaths.Fixture("vae_decoder");
        var output = Path.Combine(TestPaths.NewTempDirectory("fixture-compare"), "out.safetensors");

        var (code, printed, error) = Cli.Run(["fixture", fixture, "--out", output, "--device", "cpu", "--compare"]);

        Assert.True(code == 0, error);
        var lines = printed.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('\t')).Where(p => p.Length == 2).ToDictionary(p => p[0], p => double.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
        using var reference = SafeTensorsFile.Open(Path.Combine(fixture, "outputs.safetensors"));
        Assert.Equal(reference.Entries.Keys.Order(), lines.Keys.Order());
        using var written = SafeTensorsFile.Open(output);
        foreach (var (name, value) in lines)
        {
            using var expected = reference.Read(name).to_type(ScalarType.Float64);
            using var actual = written.Read(name).to_type(ScalarType.Float64);
            var relative = (actual - expected).abs().max().item<double>() / expected.abs().max().item<double>();
            Assert.InRange(value, 0, 1e-4);
            Assert.Equal(relative, value, relative * 0.01 + 1e-12);   // printed with three significant digits
        }
    }

    [Fact]
    public void ToleranceEndsWithExitCodeOneNamingTheOutputsAboveIt()
    {
        var fixture = TestPaths.Fixture("flux_transformer");
        var output = Path.Combine(TestPaths.NewTempDirectory("fixture-tolerance"), "out.safetensors");

        var (code, printed, error) = Cli.Run(["fixture", fixture, "--out", output, "--tolerance", "1e-4"]);
        Assert.True(code == 0, error);
        Assert.StartsWith("sample\t", printed.Trim());

        // No float32 computation meets 0 exactly on this case (its relative error is about 1e-6).
        (code, _, error) = Cli.Run(["fixture", fixture, "--out", output, "--tolerance", "0"]);
        Assert.Equal(1, code);
        Assert.Contains("studio fixture: 1 of 1 outputs above --tolerance 0: sample (", error);

        (code, _, error) = Cli.Run(["fixture", fixture, "--out", Path.Combine(Path.GetDirectoryName(output)!, "never.safetensors"), "--tolerance", "-1"]);
        Assert.Equal(1, code);
        Assert.Contains("--tolerance -1 is not a non-negative number", error);
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(output)!, "never.safetensors")));
    }

    [Fact]
    public void ABadDeviceIsRefusedBeforeAnythingIsWritten()
    {
        var output = Path.Combine(TestPaths.NewTempDirectory("fixture-device"), "out.safetensors");
        var (code, _, error) = Cli.Run(["fixture", TestPaths.Fixture("flux_packing"), "--out", output, "--device", "gpu"]);
        Assert.Equal(1, code);
        Assert.Contains("studio fixture: --device: 'gpu' is not cpu, cuda or cuda:N", error);
        Assert.False(File.Exists(output));
    }
}
