using System.Text.Json;

namespace Studio.Cli.Tests;

[Collection("console")]
public class BenchDistillCommandTests
{
    // The standard workload's layout at toy size (the real one is timed by `studio bench distill`, never in tests).
    const string TinyWorkload = """
        {"name": "distill-tiny-update",
         "student": {"model_type": "t5", "vocab_size": 100, "d_model": 16, "num_layers": 1, "num_heads": 2, "d_kv": 8,
                     "d_ff": 32, "feed_forward_proj": "gated-gelu", "relative_attention_num_buckets": 32,
                     "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-06, "dropout_rate": 0.1},
         "projection_dim": 32, "projection_dropout": 0.1,
         "transformer": {"_class_name": "FluxTransformer2DModel", "patch_size": 1, "in_channels": 16, "num_layers": 1,
                         "num_single_layers": 1, "attention_head_dim": 8, "num_attention_heads": 2, "joint_attention_dim": 32,
                         "pooled_projection_dim": 8, "guidance_embeds": true, "axes_dims_rope": [2, 2, 4]},
         "batch": 2, "text_len": 7, "latent_shape": [4, 4, 4], "image_tokens": 4, "dtype": "float32", "device": "cpu",
         "threads": 1, "seed": 0,
         "optimizer": {"name": "AdamW", "lr": 0.0001, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.001},
         "clip_grad_norm": 1.0, "schedule": {"steps": 3}, "warmup": 1, "repeats": 4}
        """;

    static string Write(string json)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("bench-distill-").FullName, "workload.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void PrintsAFloat32AndABFloat16LineWithTheStandardFields()
    {
        var config = Write(TinyWorkload);
        var (code, output, error) = Cli.Run("bench", "distill", "--config", config);

        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        foreach (var line in lines)
        {
            foreach (var field in new[] { "median_ms", "min_ms", "max_ms" })
                Assert.True(line.GetProperty(field).GetDouble() > 0, field);
            Assert.True(line.GetProperty("min_ms").GetDouble() <= line.GetProperty("median_ms").GetDouble());
            Assert.True(line.GetProperty("median_ms").GetDouble() <= line.GetProperty("max_ms").GetDouble());
            Assert.Equal(1, line.GetProperty("warmup").GetInt32());
            Assert.Equal(4, line.GetProperty("repeats").GetInt32());
            Assert.Equal(1, line.GetProperty("threads").GetInt32());
            Assert.Contains("TorchSharp", line.GetProperty("impl").GetString());
            Assert.True(line.GetProperty("peak_fraction").GetDouble() >= 0 && line.GetProperty("matmul_gflop_per_update").GetDouble() > 0);
        }
        Assert.Equal("distill-tiny-update", lines[0].GetProperty("bench").GetString());
        // The first line's config is the file's content, unchanged.
        Assert.True(JsonElement.DeepEquals(JsonDocument.Parse(File.ReadAllText(config)).RootElement, lines[0].GetProperty("config")));
        Assert.Equal("bfloat16", lines[1].GetProperty("dtype").GetString());
        Assert.Equal("float32", lines[1].GetProperty("student_dtype").GetString());
    }

    /// <summary>
    /// bench/distill-paper.json with its dims scaled down and device cpu (everything else as the file says: bfloat16
    /// transformer, optimizer, schedule): the paper workload's code path, batch 1 and 2 in one process.
    /// </summary>
    [Fact]
    public void ThePaperWorkloadScaledDownRunsOnTheCpuAtTwoBatchesWithNullGpuFields()
    {
        var paper = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(
            File.ReadAllText(Path.Combine(Studio.Ml.Tests.TestPaths.RepoRoot, "bench", "distill-paper.json")))!;
        Assert.Equal("cuda", paper["device"]!.GetValue<string>());
        Assert.Equal("bfloat16", paper["dtype"]!.GetValue<string>());
        var tiny = JsonDocument.Parse(TinyWorkload).RootElement;
        foreach (var field in new[] { "student", "projection_dim", "transformer", "text_len", "latent_shape", "image_tokens", "threads", "warmup", "repeats" })
            paper[field] = System.Text.Json.Nodes.JsonNode.Parse(tiny.GetProperty(field).GetRawText());
        paper["device"] = "cpu";
        paper["gradient_checkpointing"] = true;
        paper["schedule"]!["steps"] = 3;
        var config = Write(paper.ToJsonString());

        var (code, output, error) = Cli.Run("bench", "distill", "--config", config, "--batch", "1", "--batch", "2");

        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([1, 2], lines.Select(l => l.GetProperty("batch").GetInt32()));
        foreach (var line in lines)
        {
            Assert.Equal("distill-paper-update", line.GetProperty("bench").GetString());
            Assert.Equal("bfloat16", line.GetProperty("dtype").GetString());
            Assert.Equal("cpu", line.GetProperty("device").GetString());
            Assert.True(line.GetProperty("gradient_checkpointing").GetBoolean());
            Assert.True(line.GetProperty("median_ms").GetDouble() > 0);
            foreach (var gpuOnly in new[] { "peak_gpu_memory_bytes", "gpu_memory_total_bytes", "gpu_memory_before_models_bytes", "tflops" })
                Assert.Equal(JsonValueKind.Null, line.GetProperty(gpuOnly).ValueKind);
            Assert.Equal(line.GetProperty("batch").GetInt32(), line.GetProperty("config").GetProperty("batch").GetInt32());
        }
    }

    [Fact]
    public void PhasesAddTheMedianOfEachPhaseInTheirOrder()
    {
        var config = Write(TinyWorkload.Replace("\"dtype\": \"float32\"", "\"dtype\": \"bfloat16\""));
        var (code, output, error) = Cli.Run("bench", "distill", "--config", config, "--phases");

        Assert.True(code == 0, error);
        var line = JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Single()).RootElement;
        var phases = line.GetProperty("phases_ms").EnumerateObject().ToList();
        Assert.Equal(["teacher", "student", "optimizer", "euler"], phases.Select(p => p.Name));
        Assert.All(phases, p => Assert.True(p.Value.GetDouble() > 0, p.Name));
        // Without --phases the line has no such field.
        (code, output, error) = Cli.Run("bench", "distill", "--config", config);
        Assert.True(code == 0, error);
        Assert.False(JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Single()).RootElement.TryGetProperty("phases_ms", out _));
    }

    [Fact]
    public void AWorkloadWhoseLatentsDoNotFitTheTransformerIsRefusedByField()
    {
        var config = Write(TinyWorkload.Replace("\"latent_shape\": [4, 4, 4]", "\"latent_shape\": [8, 4, 4]"));
        var error = Assert.Throws<InvalidDataException>(() => Studio.Ml.Benchmarks.DistillUpdateWorkload.Load(config));
        Assert.Contains("latent_shape", error.Message);
        Assert.Contains(config, error.Message);
    }
}
