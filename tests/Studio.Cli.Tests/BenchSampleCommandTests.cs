using System.Text.Json;
using System.Text.Json.Nodes;
using Studio.Ml.Tests;

namespace Studio.Cli.Tests;

[Collection("console")]
public class BenchSampleCommandTests
{
    [Fact]
    public void TimesTheRepositoryWorkloadShapeInFloat32ThenBFloat16WithStageMedians()
    {
        // The repository's workload, shrunk so the test stays short (the real one is timed by `studio bench sample`).
        var workload = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "bench", "flux-sample-toy.json")))!.AsObject();
        workload["steps"] = 1;
        workload["width"] = 32;
        workload["height"] = 32;
        workload["max_sequence_length"] = 8;
        workload["warmup"] = 0;
        workload["repeats"] = 2;
        workload["threads"] = 1;
        var config = Path.Combine(TestPaths.NewTempDirectory("bench-sample"), "flux-sample-tiny.json");
        File.WriteAllText(config, workload.ToJsonString());

        var (code, output, error) = Cli.Run("bench", "sample", "--config", config);

        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["flux-sample-toy", "flux-sample-toy-bfloat16"], lines.Select(l => l.GetProperty("bench").GetString()));
        Assert.Equal(["float32", "bfloat16"], lines.Select(l => l.GetProperty("dtype").GetString()));
        foreach (var line in lines)
        {
            Assert.True(line.GetProperty("min_ms").GetDouble() <= line.GetProperty("median_ms").GetDouble());
            Assert.True(line.GetProperty("median_ms").GetDouble() <= line.GetProperty("max_ms").GetDouble());
            Assert.Equal(2, line.GetProperty("repeats").GetInt32());
            Assert.Equal(["encode prompts", "denoise", "decode"], line.GetProperty("stage_median_ms").EnumerateObject().Select(p => p.Name));
            Assert.True(line.GetProperty("load_ms").GetDouble() > 0);
            Assert.Equal(1, line.GetProperty("config").GetProperty("steps").GetInt32());
        }
    }

    [Fact]
    public void AWorkloadOffTheStandardIsRefusedNamingTheField()
    {
        var workload = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "bench", "flux-sample-toy.json")))!.AsObject();
        workload["device"] = "gpu";
        var config = Path.Combine(TestPaths.NewTempDirectory("bench-sample-bad"), "bad.json");
        File.WriteAllText(config, workload.ToJsonString());
        var error = Assert.Throws<InvalidDataException>(() => Studio.Ml.Benchmarks.FluxSampleWorkload.Load(config));
        Assert.Contains("device", error.Message);
        Assert.Contains("'gpu'", error.Message);
    }
}
