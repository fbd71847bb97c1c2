using System.CommandLine;
using Studio.Ml;
using Studio.Ml.Fixtures;

namespace Studio.Cli;

/// <summary>`studio fixture DIR --out OUT.safetensors`: compute every output a reference folder names.</summary>
public static class FixtureCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "A folder with config.json, [model.safetensors], inputs.safetensors, outputs.safetensors" };
        var output = new Option<string>("--out") { Description = "Where to write the computed outputs (safetensors)", Required = true };
        var command = new Command("fixture", "Compute the outputs a reference folder names, from its config, weights and inputs alone.") { dir, output };
        command.SetAction(parse =>
        {
            TorchRuntime.Initialise();
            FixtureRunner.Run(parse.GetValue(dir)!, parse.GetValue(output)!);
            return 0;
        });
        return command;
    }
}
