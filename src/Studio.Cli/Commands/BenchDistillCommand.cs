using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Studio.Ml.Benchmarks;
using Studio.Ml.Models.T5;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// `studio bench distill --config FILE [--batch N ...]`: the distillation-update workload (bench/distill-toy.json,
/// bench/distill-paper.json) through the trainer, on the workload's `device`. A float32 workload prints the float32
/// update as specified, then the same update with the frozen transformer in bfloat16; a bfloat16 one only that (the
/// student's master weights stay float32). On CUDA each line also gives the peak device memory and the TFLOP/s.
/// </summary>
public static class BenchDistillCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "the workload JSON (e.g. bench/distill-toy.json, bench/distill-paper.json)", Required = true };
        var batches = new Option<int[]>("--batch") { Description = "time at this batch instead of the workload's (repeat for several; the transformer is built once)", AllowMultipleArgumentsPerToken = false };
        var command = new Command("distill", "Time one step-following distillation update with a float32, then a bfloat16 frozen transformer.") { config, batches };
        command.SetAction(parse =>
        {
            var workload = DistillUpdateWorkload.Load(parse.GetValue(config)!.FullName);
            var sizes = parse.GetValue(batches) is { Length: > 0 } b ? b : null;
            foreach (var result in DistillUpdateBenchmark.Run(workload, sizes))
                Console.WriteLine(Line(workload, result).ToJsonString(JsonLine));
            return 0;
        });
        return command;
    }

    static readonly JsonSerializerOptions JsonLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static JsonObject Line(DistillUpdateWorkload workload, DistillUpdateBenchmark.Result result)
    {
        var dtype = result.TransformerDType == ScalarType.Float32 ? "float32" : "bfloat16";
        // The line in the file's dtype and batch carries the workload file as it is; others say which dtype and batch they ran in.
        var config = result.Batch == workload.Batch ? (JsonObject)workload.Json.DeepClone() : workload.WithBatch(result.Batch).Json;
        if (result.TransformerDType != workload.DType) config["dtype"] = dtype;
        var onGpu = result.GpuMemoryUsedBytes is not null;
        return new JsonObject
        {
            ["bench"] = result.TransformerDType == workload.DType ? workload.Name : $"{workload.Name}-{dtype}",
            ["batch"] = result.Batch,
            ["device"] = workload.Device,
            ["gradient_checkpointing"] = workload.GradientCheckpointing,
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
            // CUDA only (null on the CPU): device memory in use at its highest (cudaMemGetInfo, so the caching
            // allocator's reserve and the CUDA context are included) and the achieved matrix-product TFLOP/s.
            ["peak_gpu_memory_bytes"] = result.GpuMemoryUsedBytes,
            ["gpu_memory_total_bytes"] = result.GpuMemoryTotalBytes,
            ["tflops"] = onGpu ? Math.Round(result.Gflops / 1000, 2) : null,
            ["config"] = config,
        };
    }
}
