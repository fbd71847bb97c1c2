using System.CommandLine;

namespace Studio.Cli;

/// <summary>`studio toy ...`: the built-in toy world. Each subcommand lives in its own Toy*Command file.</summary>
public static class ToyCommand
{
    public static Command Create()
    {
        var command = new Command("toy", "The built-in toy world: procedural prompts and images, and their evaluator.");
        command.Subcommands.Add(ToyRenderCommand.Create());
        command.Subcommands.Add(ToyScoreCommand.Create());
        command.Subcommands.Add(ToyPretrainCommand.Create());
        command.Subcommands.Add(ToyStudyCommand.Create());
        command.Subcommands.Add(ToyCeilingCommand.Create());
        return command;
    }
}
