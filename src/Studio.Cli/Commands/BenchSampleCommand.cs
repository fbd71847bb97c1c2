using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Studio.Ml.Benchmarks;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// `studio bench sample --config FILE`: the FLUX sampling workload (bench/flux-sample-toy.json) on a random pipeline
/// the benchmark writes itself; one JSON line for float32, then one for bfloat16, each with its stage medians.
/// </summary>
public static class BenchSampleCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "the workload JSON (e.g. bench/flux-sample-toy.json)", Required = true };
        var command = new Command("sample", "Time one FLUX text-to-image call in float32, then in bfloat16.") { config };
        command.SetAction(parse =>
        {
            var workload = FluxSampleWorkload.Load(parse.GetValue(config)!.FullName);
            foreach (var result in FluxSampleBenchmark.Run(workload))
                Console.WriteLine(Line(workload, result).ToJsonString(JsonLine));
            return 0;
        });
        return command;
    }

    static readonly JsonSerializerOptions JsonLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static JsonObject Line(FluxSampleWorkload workload, FluxSampleBenchmark.Result result)
    {
        var dtype = result.DType == ScalarType.Float32 ? "float32" : "bfloat16";
        var config = (JsonObject)workload.Json.DeepClone();
        config["dtype"] = dtype;
        var stages = new JsonObject();
        foreach (var (stage, ms) in result.StageMedianMs) stages[stage] = Math.Round(ms, 3);
        return new JsonObject
        {
            ["bench"] = result.DType == ScalarType.Float32 ? workload.Name : $"{workload.Name}-{dtype}",
            ["median_ms"] = Math.Round(result.Times.MedianMs, 3),
            ["min_ms"] = Math.Round(result.Times.MinMs, 3),
            ["max_ms"] = Math.Round(result.Times.MaxMs, 3),
            ["warmup"] = workload.Warmup,
            ["repeats"] = workload.Repeats,
            ["threads"] = torch.get_num_threads(),
            ["dtype"] = dtype,
            ["stage_median_ms"] = stages,
            ["load_ms"] = Math.Round(result.LoadMs, 3),
            ["impl"] = $"TorchSharp {typeof(torch).Assembly.GetName().Version!.ToString(3)} / LibTorch {torch.__version__} (studio FluxPipeline)",
            ["config"] = config,
        };
    }
}
