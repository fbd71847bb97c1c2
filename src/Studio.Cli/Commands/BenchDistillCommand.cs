using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Studio.Ml.Benchmarks;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// `studio bench distill --config FILE`: the distillation-update workload (bench/distill-toy.json) through the
/// trainer. Prints the float32 update as specified, then the same update with the frozen transformer in bfloat16
/// (the student's master weights stay float32).
/// </summary>
public static class BenchDistillCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "the workload JSON (e.g. bench/distill-toy.json)", Required = true };
        var command = new Command("distill", "Time one step-following distillation update with a float32, then a bfloat16 frozen transformer.") { config };
        command.SetAction(parse =>
        {
            var workload = DistillUpdateWorkload.Load(parse.GetValue(config)!.FullName);
            foreach (var result in DistillUpdateBenchmark.Run(workload))
                Console.WriteLine(Line(workload, result).ToJsonString(JsonLine));
            return 0;
        });
        return command;
    }

    static readonly JsonSerializerOptions JsonLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static JsonObject Line(DistillUpdateWorkload workload, DistillUpdateBenchmark.Result result)
    {
        var dtype = result.TransformerDType == ScalarType.Float32 ? "float32" : "bfloat16";
        // The float32 line carries the workload file as it is; the bf16 line says which dtype it ran in.
        var config = (JsonObject)workload.Json.DeepClone();
        if (result.TransformerDType != ScalarType.Float32) config["dtype"] = dtype;
        return new JsonObject
        {
            ["bench"] = result.TransformerDType == ScalarType.Float32 ? workload.Name : $"{workload.Name}-{dtype}",
            ["median_ms"] = Math.Round(result.Times.MedianMs, 3),
            ["min_ms"] = Math.Round(result.Times.MinMs, 3),
            ["max_ms"] = Math.Round(result.Times.MaxMs, 3),
            ["warmup"] = workload.Warmup,
            ["repeats"] = workload.Repeats,
            ["threads"] = torch.get_num_threads(),
            ["dtype"] = dtype,
            ["student_dtype"] = "float32",
            ["impl"] = $"TorchSharp {typeof(torch).Assembly.GetName().Version!.ToString(3)} / LibTorch {torch.__version__} (studio Distiller, StudentEncoder, FluxTransformer)",
            ["matmul_gflop_per_update"] = Math.Round(result.MatmulGflop, 3),
            ["gflops"] = Math.Round(result.Gflops, 1),
            ["matmul_peak_gflops"] = Math.Round(result.PeakGflops, 1),
            ["peak_fraction"] = Math.Round(result.PeakFraction, 3),
            ["config"] = config,
        };
    }
}
