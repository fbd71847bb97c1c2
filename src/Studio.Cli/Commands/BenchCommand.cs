using System.CommandLine;

namespace Studio.Cli;

/// <summary>`studio bench ...`: the standard benchmark workloads. Each subcommand lives in its own Bench*Command file.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Run a standard benchmark workload and print one JSON line per measurement.");
        command.Subcommands.Add(BenchT5Command.Create());
        command.Subcommands.Add(BenchLoadCommand.Create());
        command.Subcommands.Add(BenchSampleCommand.Create());
        command.Subcommands.Add(BenchDistillCommand.Create());
        command.Subcommands.Add(BenchSeriesCommand.Create());
        return command;
    }
}
