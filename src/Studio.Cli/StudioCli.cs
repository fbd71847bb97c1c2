using System.CommandLine;

namespace Studio.Cli;

/// <summary>The `studio` command tree. Each verb lives in its own file under Commands/ and is added here.</summary>
public static class StudioCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("Distill Studio: distil the T5 text encoder of FLUX.1 / SD3 into a small student.");
        root.Subcommands.Add(VersionCommand.Create());
        root.Subcommands.Add(FixtureCommand.Create());
        root.Subcommands.Add(ToyCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(DistillCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(CacheCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        return root;
    }
}
