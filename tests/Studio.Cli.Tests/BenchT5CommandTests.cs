using System.Text.Json;
using Studio.Cli;

namespace Studio.Cli.Tests;

[Collection("console")]
public class BenchT5CommandTests
{
    [Fact]
    public void PrintsAFloat32AndABFloat16LineWithTheStandardFields()
    {
        // The standard workload's shape at toy size (the real one is timed by `studio bench t5`, never in tests).
        var config = Path.Combine(Directory.CreateTempSubdirectory("bench-t5-").FullName, "t5-tiny.json");
        File.WriteAllText(config, """
            {"name": "t5-tiny-forward",
             "model": {"model_type": "t5", "vocab_size": 100, "d_model": 16, "num_layers": 2, "num_heads": 2, "d_kv": 8,
                       "d_ff": 32, "feed_forward_proj": "gated-gelu", "relative_attention_num_buckets": 32,
                       "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-06, "dropout_rate": 0.1},
             "batch": 2, "seq": 7, "attention_mask": false, "dtype": "float32", "device": "cpu", "threads": 1, "seed": 0,
             "warmup": 1, "repeats": 3}
            """);

        var original = Console.Out;
        var writer = new StringWriter();
        Console.SetOut(writer);
        int code;
        try { code = StudioCli.Run(["bench", "t5", "--config", config]); }
        finally { Console.SetOut(original); }

        Assert.Equal(0, code);
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        foreach (var line in lines)
        {
            foreach (var field in new[] { "median_ms", "min_ms", "max_ms" })
                Assert.True(line.GetProperty(field).GetDouble() > 0, field);
            Assert.True(line.GetProperty("min_ms").GetDouble() <= line.GetProperty("median_ms").GetDouble());
            Assert.True(line.GetProperty("median_ms").GetDouble() <= line.GetProperty("max_ms").GetDouble());
            Assert.Equal(1, line.GetProperty("warmup").GetInt32());
            Assert.Equal(3, line.GetProperty("repeats").GetInt32());
            Assert.Equal(1, line.GetProperty("threads").GetInt32());
            Assert.Contains("TorchSharp", line.GetProperty("impl").GetString());
            Assert.Equal(16, line.GetProperty("config").GetProperty("model").GetProperty("d_model").GetInt32());
        }
        Assert.Equal("t5-tiny-forward", lines[0].GetProperty("bench").GetString());
        Assert.Equal("float32", lines[0].GetProperty("config").GetProperty("dtype").GetString());
        Assert.Equal("bfloat16", lines[1].GetProperty("config").GetProperty("dtype").GetString());
        var error = lines[1].GetProperty("max_rel_error_vs_float32").GetDouble();
        Assert.InRange(error, 1e-6, 5e-2); // bf16 rounding: not zero, not garbage
        // Rounded like every measured number of a bench line: three significant figures.
        var digits = lines[1].GetProperty("max_rel_error_vs_float32").GetRawText().TrimStart('0', '.').TrimStart('0').Split('E', 'e')[0].Replace(".", "").TrimEnd('0');
        Assert.True(digits.Length <= 3, lines[1].GetProperty("max_rel_error_vs_float32").GetRawText());
    }

    [Fact]
    public void ABadWorkloadFieldIsNamed()
    {
        var config = Path.Combine(Directory.CreateTempSubdirectory("bench-t5-").FullName, "bad.json");
        File.WriteAllText(config, """{"name": "x", "model": {"d_model": 16}, "batch": 2, "seq": 7, "attention_mask": false, "dtype": "float32", "device": "cpu", "threads": 1, "seed": 0, "warmup": 1, "repeats": 3}""");
        var error = Assert.Throws<InvalidDataException>(() => Studio.Ml.Benchmarks.T5ForwardWorkload.Load(config));
        Assert.Contains("vocab_size", error.Message);
        Assert.Contains(config, error.Message);
    }
}
