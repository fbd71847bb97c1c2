using System.CommandLine;
using Studio.Ml;
using Studio.Ml.Fixtures;

namespace Studio.Cli;

/// <summary>
/// `studio fixture DIR --out OUT.safetensors [--device D] [--compare]`: compute every output a reference folder names,
/// on the CPU or a GPU; with --compare, also print how far each is from the folder's reference values.
/// </summary>
public static class FixtureCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "A folder with config.json, [model.safetensors], inputs.safetensors, outputs.safetensors" };
        var output = new Option<string>("--out") { Description = "Where to write the computed outputs (safetensors)", Required = true };
        var device = DeviceOption.Create();
        var compare = new Option<bool>("--compare") { Description = "also print max|out - ref| / max|ref| of every output against the folder's outputs.safetensors" };
        var command = new Command("fixture", "Compute the outputs a reference folder names, from its config, weights and inputs alone.") { dir, output, device, compare };
        command.SetAction(parse =>
        {
            TorchRuntime.Initialise();
            if (DeviceOption.Resolve(parse, device) is not { } on) return 1;
            using var fixture = FixtureFolder.Open(parse.GetValue(dir)!);
            var outputs = FixtureRunner.Compute(fixture, on);
            try
            {
                FixtureRunner.Save(fixture, outputs, parse.GetValue(output)!);
                if (parse.GetValue(compare))
                    foreach (var (name, error) in FixtureComparison.RelativeErrors(fixture.Directory, outputs).OrderBy(e => e.Key, StringComparer.Ordinal))
                        Console.WriteLine($"{name}\t{error:E2}");
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
