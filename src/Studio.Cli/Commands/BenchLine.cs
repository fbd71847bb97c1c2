using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Studio.Ml.Benchmarks;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>
/// What the `studio bench` commands share: the `--config FILE` option, the common fields of a timed line, the rounding
/// of measured numbers, and printing a line. Each command adds only its own fields.
/// </summary>
public static class BenchLine
{
    static readonly JsonSerializerOptions JsonLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>`--config FILE`, the workload JSON; <paramref name="examples"/> names the repository's files.</summary>
    public static Option<FileInfo> ConfigOption(string examples) =>
        new("--config") { Description = $"the workload JSON (e.g. {examples})", Required = true };

    /// <summary>Writes <paramref name="line"/> as one JSON line on stdout.</summary>
    public static void Print(JsonObject line) => Console.WriteLine(line.ToJsonString(JsonLine));

    /// <summary>"float32" or "bfloat16", the workloads' dtype names.</summary>
    public static string DTypeName(ScalarType dtype) => dtype == ScalarType.Float32 ? "float32" : "bfloat16";

    /// <summary>
    /// The fields of every timed line: the bench name (the workload's, with "-bfloat16" when the line's dtype is not
    /// the file's), the times per call, warm-up and repeats, threads, dtype, and the implementation (<paramref name="modules"/>
    /// names the studio classes timed).
    /// </summary>
    public static JsonObject Timed(WorkloadFile file, ScalarType dtype, ScalarType fileDType, BenchmarkTimes times, string modules) => new()
    {
        ["bench"] = dtype == fileDType ? file.Name : $"{file.Name}-{DTypeName(dtype)}",
        ["median_ms"] = Measured(times.MedianMs),
        ["min_ms"] = Measured(times.MinMs),
        ["max_ms"] = Measured(times.MaxMs),
        ["warmup"] = file.Warmup,
        ["repeats"] = file.Repeats,
        ["threads"] = torch.get_num_threads(),
        ["dtype"] = DTypeName(dtype),
        ["impl"] = $"TorchSharp {typeof(torch).Assembly.GetName().Version!.ToString(3)} / LibTorch {torch.__version__} ({modules})",
    };

    /// <summary>
    /// A measured number (a time, a rate, a ratio) rounded to three significant figures, keeping every digit before
    /// the decimal point: 0.000123456 -> 0.000123, 1.23456 -> 1.23, 12345.6 -> 12346. A positive value never becomes
    /// 0, however fast the machine.
    /// </summary>
    public static double Measured(double value)
    {
        if (value == 0 || !double.IsFinite(value)) return value;
        var decimals = 2 - (int)Math.Floor(Math.Log10(Math.Abs(value)));
        return decimals switch
        {
            <= 0 => Math.Round(value),
            <= 15 => Math.Round(value, decimals),
            _ => value,
        };
    }
}
