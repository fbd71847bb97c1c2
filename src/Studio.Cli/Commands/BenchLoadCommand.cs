using System.CommandLine;
using System.Text.Json.Nodes;
using Studio.Ml.Benchmarks;
using Studio.Ml.Tensors;

namespace Studio.Cli;

/// <summary>
/// `studio bench load FILE` or `studio bench load --size-mb N`: loads a safetensors checkpoint (or a random one of N MB,
/// made in a temporary folder and deleted afterwards) and prints one JSON line: load time, plain-read time, the
/// time to allocate and touch the same memory, file size, peak resident-memory growth and its ratio to the file size.
/// </summary>
public static class BenchLoadCommand
{
    public static Command Create()
    {
        var file = new Argument<string?>("FILE") { Description = "A .safetensors file", Arity = ArgumentArity.ZeroOrOne };
        var sizeMb = new Option<int?>("--size-mb") { Description = "Make a random float32 checkpoint of this many MB instead of reading FILE" };
        var command = new Command("load", "Time loading a safetensors checkpoint against a plain read, and its peak memory growth.") { file, sizeMb };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(file);
            var size = parse.GetValue(sizeMb);
            if ((path is null) == (size is null)) throw new ArgumentException("give either FILE or --size-mb N");
            if (size is < 1) throw new ArgumentException($"--size-mb: {size} must be at least 1");
            string? temporary = null;
            try
            {
                if (size is { } megabytes)
                {
                    temporary = Directory.CreateTempSubdirectory("studio-bench-load-").FullName;
                    path = Path.Combine(temporary, $"random-{megabytes}mb.safetensors");
                    LoadBenchmark.WriteRandomFile(path, megabytes);
                }
                BenchLine.Print(Line(LoadBenchmark.Run(path!), generated: temporary is not null));
                return 0;
            }
            finally
            {
                if (temporary is not null) Directory.Delete(temporary, recursive: true);
            }
        });
        return command;
    }

    static JsonObject Line(LoadBenchmark.Result r, bool generated) => new()
    {
        ["bench"] = "load",
        ["file"] = r.File,
        ["generated"] = generated,
        ["file_bytes"] = r.FileBytes,
        ["tensors"] = r.Tensors,
        ["load_s"] = BenchLine.Measured(r.LoadSeconds),
        ["plain_read_s"] = BenchLine.Measured(r.PlainReadSeconds),
        ["load_over_plain_read"] = BenchLine.Measured(r.LoadOverPlainRead),
        ["first_touch_s"] = BenchLine.Measured(r.FirstTouchSeconds),
        ["peak_rss_growth_bytes"] = r.PeakRssGrowthBytes,
        ["rss_growth_ratio"] = Math.Round(r.RssGrowthRatio, 4), // a ratio near 1 whose small excess is the point: four decimals, not three figures
        ["peak_reset"] = r.PeakWasReset,
    };
}
