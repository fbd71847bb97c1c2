using System.CommandLine;
using Studio.Ml;
using Studio.Ml.Fixtures;

namespace Studio.Cli;

/// <summary>
/// `studio fixture DIR --out OUT.safetensors [--device D] [--compare] [--tolerance T]`: compute every output a
/// reference folder names, on the CPU or a GPU; with --compare, also print how far each is from the folder's reference
/// values, and with --tolerance end with exit code 1 when one is farther than that.
/// </summary>
public static class FixtureCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "A folder with config.json, [model.safetensors], inputs.safetensors, outputs.safetensors" };
        var output = new Option<string>("--out") { Description = "Where to write the computed outputs (safetensors)", Required = true };
        var device = DeviceOption.Create();
        var compare = new Option<bool>("--compare") { Description = "also print max|out - ref| / max|ref| of every output against the folder's outputs.safetensors" };
        var tolerance = new Option<double?>("--tolerance") { Description = "compare (as --compare) and exit with 1 when an output's max|out - ref| / max|ref| exceeds this" };
        var command = new Command("fixture", "Compute the outputs a reference folder names, from its config, weights and inputs alone.") { dir, output, device, compare, tolerance };
        command.SetAction(parse =>
        {
            if (parse.GetValue(tolerance) is { } given && !(given >= 0))
            {
                Console.Error.WriteLine($"studio fixture: --tolerance {given} is not a non-negative number");
                return 1;
            }
            TorchRuntime.Initialise();
            if (DeviceOption.Resolve(parse, device) is not { } on) return 1;
            using var fixture = FixtureFolder.Open(parse.GetValue(dir)!);
            var outputs = FixtureRunner.Compute(fixture, on);
            try
            {
                FixtureRunner.Save(fixture, outputs, parse.GetValue(output)!);
                var limit = parse.GetValue(tolerance);
                if (!parse.GetValue(compare) && limit is null) return 0;
                var errors = FixtureComparison.RelativeErrors(fixture.Directory, outputs).OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
                foreach (var (name, error) in errors) Console.WriteLine($"{name}\t{error:E2}");
                var above = limit is null ? [] : errors.Where(e => !(e.Value <= limit)).ToList();   // NaN counts as above
                if (above.Count > 0)
                {
                    Console.Error.WriteLine($"studio fixture: {above.Count} of {errors.Count} outputs above --tolerance {limit:G3}: " +
                        string.Join(", ", above.Select(e => $"{e.Key} ({e.Value:E2})")));
                    return 1;
                }
            }
            finally
            {
                foreach (var t in outputs.Values) t.Dispose();
            }
            return 0;
        });
        return command;
    }
}
