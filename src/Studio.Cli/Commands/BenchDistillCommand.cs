using System.CommandLine;
using System.Text.Json.Nodes;
using Studio.Ml.Benchmarks;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// `studio bench distill --config FILE [--batch N ...]`: the distillation-update workload (bench/distill-toy.json,
/// bench/distill-paper.json) through the trainer, on the workload's `device`. A float32 workload prints the float32
/// update as specified, then the same update with the frozen transformer in bfloat16; a bfloat16 one only that (the
/// student's master weights stay float32). On CUDA each line also gives the peak device memory and the TFLOP/s.
/// `--phases` adds the median time of each phase of the update (`phases_ms`), from a second pass that waits for the
/// device after each phase.
/// </summary>
public static class BenchDistillCommand
{
    public static Command Create()
    {
        var config = BenchLine.ConfigOption("bench/distill-toy.json, bench/distill-paper.json");
        var batches = new Option<int[]>("--batch") { Description = "time at this batch instead of the workload's (repeat for several; the transformer is built once)", AllowMultipleArgumentsPerToken = false };
        var phases = new Option<bool>("--phases") { Description = "also time each phase (teacher velocity, student forward and backward, clipping and AdamW, Euler step) in a second pass that waits for the device after each" };
        var command = new Command("distill", "Time one step-following distillation update with a float32, then a bfloat16 frozen transformer.") { config, batches, phases };
        command.SetAction(parse =>
        {
            var workload = DistillUpdateWorkload.Load(parse.GetValue(config)!.FullName);
            var sizes = parse.GetValue(batches) is { Length: > 0 } b ? b : null;
            foreach (var result in DistillUpdateBenchmark.Run(workload, sizes, parse.GetValue(phases))) BenchLine.Print(Line(workload, result));
            return 0;
        });
        return command;
    }

    static JsonObject Line(DistillUpdateWorkload workload, DistillUpdateBenchmark.Result result)
    {
        var line = BenchLine.Timed(workload.File, result.TransformerDType, workload.DType, result.Times,
            "studio Distiller, StudentEncoder, FluxTransformer");
        line["batch"] = result.Batch;
        line["device"] = workload.File.Device;
        line["gradient_checkpointing"] = workload.GradientCheckpointing;
        line["student_dtype"] = "float32";
        line["matmul_gflop_per_update"] = BenchLine.Measured(result.MatmulGflop);
        line["gflops"] = BenchLine.Measured(result.Gflops);
        line["matmul_peak_gflops"] = BenchLine.Measured(result.PeakGflops);
        line["peak_fraction"] = BenchLine.Measured(result.PeakFraction);
        // CUDA only (null on the CPU): device memory in use at its highest (cudaMemGetInfo, so the caching
        // allocator's reserve and the CUDA context are included), in use before the models came (the context and
        // other processes: subtract it to compare with PyTorch's max_memory_allocated) and the achieved matrix-product TFLOP/s.
        line["peak_gpu_memory_bytes"] = result.GpuMemoryUsedBytes;
        line["gpu_memory_before_models_bytes"] = result.GpuMemoryBeforeBytes;
        line["gpu_memory_total_bytes"] = result.GpuMemoryTotalBytes;
        line["tflops"] = result.GpuMemoryUsedBytes is not null ? BenchLine.Measured(result.Gflops / 1000) : null;
        if (result.PhaseMedianMs is { } phaseMs)
            line["phases_ms"] = new JsonObject(phaseMs.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)BenchLine.Measured(p.Value))));
        // The line in the file's dtype and batch carries the workload file as it is; others say which dtype and batch they ran in.
        var config = result.Batch == workload.Batch ? (JsonObject)workload.File.Json.DeepClone() : workload.WithBatch(result.Batch).File.Json;
        if (result.TransformerDType != workload.DType) config["dtype"] = BenchLine.DTypeName(result.TransformerDType);
        line["config"] = config;
        return line;
    }
}
