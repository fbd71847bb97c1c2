using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Studio.Ml;
using Studio.Ml.Benchmarks;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// `studio bench t5 --config FILE`: the T5 encoder forward workload (bench/t5-base.json). Prints the float32
/// workload as specified, then the same workload in bfloat16 with its maximum relative error against float32.
/// </summary>
public static class BenchT5Command
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "the workload JSON (e.g. bench/t5-base.json)", Required = true };
        var command = new Command("t5", "Time the T5 encoder forward workload in float32, then in bfloat16.") { config };
        command.SetAction(parse =>
        {
            var workload = T5ForwardWorkload.Load(parse.GetValue(config)!.FullName);
            foreach (var result in T5ForwardBenchmark.Run(workload))
                Console.WriteLine(Line(workload, result).ToJsonString(JsonLine));
            return 0;
        });
        return command;
    }

    static readonly JsonSerializerOptions JsonLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static JsonObject Line(T5ForwardWorkload workload, T5ForwardBenchmark.Result result)
    {
        var dtype = result.DType == ScalarType.Float32 ? "float32" : "bfloat16";
        var config = (JsonObject)workload.Json.DeepClone();
        config["dtype"] = dtype;
        var line = new JsonObject
        {
            ["bench"] = result.DType == ScalarType.Float32 ? workload.Name : $"{workload.Name}-{dtype}",
            ["median_ms"] = Math.Round(result.Times.MedianMs, 3),
            ["min_ms"] = Math.Round(result.Times.MinMs, 3),
            ["max_ms"] = Math.Round(result.Times.MaxMs, 3),
            ["warmup"] = workload.Warmup,
            ["repeats"] = workload.Repeats,
            ["threads"] = torch.get_num_threads(),
            ["dtype"] = dtype,
            ["impl"] = $"TorchSharp {typeof(torch).Assembly.GetName().Version!.ToString(3)} / LibTorch {torch.__version__} (studio T5Encoder)",
        };
        if (result.MaxRelativeErrorVsFloat32 is { } error) line["max_rel_error_vs_float32"] = error;
        line["config"] = config;
        return line;
    }
}
