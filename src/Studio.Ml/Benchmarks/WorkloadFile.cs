using System.Text.Json.Nodes;
using Studio.Ml.Models.Common;
using static TorchSharp.torch;

namespace Studio.Ml.Benchmarks;

/// <summary>
/// What every timed workload file (bench/*.json) says besides its model: its name, CPU threads, seed, warm-up and
/// timed calls, and device; and the file's JSON as read (printed back with each measurement).
/// </summary>
public sealed record WorkloadFile(string Name, int Threads, int Seed, int Warmup, int Repeats, string Device, JsonObject Json)
{
    /// <summary>Reads the common fields of <paramref name="path"/>; the config reads the workload's own fields, naming the file in its errors.</summary>
    public static (WorkloadFile File, ModelConfig Config) Load(string path)
    {
        var config = ModelConfig.Load(path);
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        if (ComputeDevice.Problem(config.String("device"), "device") is { } device) throw config.Invalid("device", device);
        var file = new WorkloadFile(config.String("name"), Positive(config, "threads"), config.Int("seed"), config.Int("warmup"),
            Positive(config, "repeats"), config.String("device"), json);
        return (file, config);
    }

    /// <summary>An integer field that must be at least 1.</summary>
    public static int Positive(ModelConfig config, string field) =>
        config.Int(field) is var v && v > 0 ? v : throw config.Invalid(field, $"must be positive, found {v}");

    /// <summary>The standard workloads are float32 (their bfloat16 run follows it): any other `dtype` is refused.</summary>
    public static void RequireFloat32(ModelConfig config)
    {
        if (config.String("dtype") != "float32")
            throw config.Invalid("dtype", $"is '{config.String("dtype")}'; the standard workload is float32 (bfloat16 is run after it)");
    }

    /// <summary>Sets the CPU threads and returns the device the workload runs on.</summary>
    public Device Start()
    {
        TorchRuntime.Initialise(Threads);
        return ComputeDevice.Parse(Device, "device");
    }

    /// <summary>Times <paramref name="call"/> after the file's warm-up calls, its repeats one by one (see <see cref="BenchmarkTimes.Measure"/>).</summary>
    public BenchmarkTimes Measure(Action call, Action? before = null) => BenchmarkTimes.Measure(Warmup, Repeats, call, before);
}
