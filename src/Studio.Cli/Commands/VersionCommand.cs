using System.CommandLine;
using System.Reflection;
using Studio.Ml;

namespace Studio.Cli;

public static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the studio version and the tensor backend.");
        command.SetAction(_ =>
        {
            var version = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            Console.WriteLine($"studio {version.Split('+')[0]}");
            TorchRuntime.Initialise();
            Console.WriteLine(TorchRuntime.Describe());
            return 0;
        });
        return command;
    }
}
