using System.CommandLine;
using System.Text.Json.Nodes;
using Studio.Ml.Benchmarks;
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
        var config = BenchLine.ConfigOption("bench/flux-sample-toy.json");
        var command = new Command("sample", "Time one FLUX text-to-image call in float32, then in bfloat16.") { config };
        command.SetAction(parse =>
        {
            var workload = FluxSampleWorkload.Load(parse.GetValue(config)!.FullName);
            foreach (var result in FluxSampleBenchmark.Run(workload)) BenchLine.Print(Line(workload, result));
            return 0;
        });
        return command;
    }

    static JsonObject Line(FluxSampleWorkload workload, FluxSampleBenchmark.Result result)
    {
        var line = BenchLine.Timed(workload.File, result.DType, ScalarType.Float32, result.Times, "studio FluxPipeline");
        var stages = new JsonObject();
        foreach (var (stage, ms) in result.StageMedianMs) stages[stage] = BenchLine.Measured(ms);
        line["stage_median_ms"] = stages;
        line["load_ms"] = BenchLine.Measured(result.LoadMs);
        var config = (JsonObject)workload.File.Json.DeepClone();
        config["dtype"] = BenchLine.DTypeName(result.DType);
        line["config"] = config;
        return line;
    }
}
