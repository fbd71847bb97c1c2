using Studio.Cli;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Cli.Tests;

public class FixtureCommandTests
{
    static string Shared()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Studio.sln"))) dir = dir.Parent;
        return Environment.GetEnvironmentVariable("STUDIO_SHARED") is { Length: > 0 } s
            ? s : Path.GetFullPath(Path.Combine(dir!.FullName, "..", "shared"));
    }

    [Fact]
    public void FixtureVerbComputesTheT5ReferenceOutputs()
    {
        var fixture = Path.Combine(Shared(), "fixtures", "models", "t5_encoder_v11");
        var output = Path.Combine(Directory.CreateTempSubdirectory("studio-fixture-").FullName, "out.safetensors");

        var code = StudioCli.Run(["fixture", fixture, "--out", output]);

        Assert.Equal(0, code);
        using var computed = SafeTensorsFile.Open(output);
        using var reference = SafeTensorsFile.Open(Path.Combine(fixture, "outputs.safetensors"));
        Assert.Equal(reference.Entries.Keys.Order(), computed.Entries.Keys.Order());
        foreach (var name in reference.Entries.Keys)
        {
            using var expected = reference.Read(name);
            using var actual = computed.Read(name);
            Assert.Equal(expected.shape, actual.shape);
            var maxRef = expected.abs().max().item<float>();
            var maxDiff = (actual - expected).abs().max().item<float>();
            Assert.True(maxDiff <= 1e-4 * Math.Max(1, maxRef), $"{name}: max|diff| {maxDiff:E3} (max|ref| {maxRef:G4})");
        }
    }
}
