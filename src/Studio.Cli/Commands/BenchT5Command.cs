using System.CommandLine;
using System.Text.Json.Nodes;
using Studio.Ml.Benchmarks;
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
        var config = BenchLine.ConfigOption("bench/t5-base.json");
        var command = new Command("t5", "Time the T5 encoder forward workload in float32, then in bfloat16.") { config };
        command.SetAction(parse =>
        {
            var workload = T5ForwardWorkload.Load(parse.GetValue(config)!.FullName);
            foreach (var result in T5ForwardBenchmark.Run(workload)) BenchLine.Print(Line(workload, result));
            return 0;
        });
        return command;
    }

    static JsonObject Line(T5ForwardWorkload workload, T5ForwardBenchmark.Result result)
    {
        var line = BenchLine.Timed(workload.File, result.DType, ScalarType.Float32, result.Times, "studio T5Encoder");
        if (result.MaxRelativeErrorVsFloat32 is { } error) line["max_rel_error_vs_float32"] = BenchLine.Measured(error);
        var config = (JsonObject)workload.File.Json.DeepClone();
        config["dtype"] = BenchLine.DTypeName(result.DType);
        line["config"] = config;
        return line;
    }
}
