using System.CommandLine;
using Studio.Ml;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>`--device cpu|cuda|cuda:N` of every verb that computes; read with <see cref="ComputeDevice.Parse"/>.</summary>
public static class DeviceOption
{
    public static Option<string> Create() =>
        new("--device") { Description = "where to compute: cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };

    /// <summary>
    /// The device the option names, or null after writing why not as one line on stderr ("studio eval: --device: 'gpu'
    /// is not cpu, cuda or cuda:N"); the verb then ends with exit code 1.
    /// </summary>
    public static Device? Resolve(ParseResult parse, Option<string> option)
    {
        try { return ComputeDevice.Parse(parse.GetValue(option)); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"{Verb(parse)}: {e.Message}");
            return null;
        }
    }

    /// <summary>"studio toy pretrain": the names of the invoked command and its parents.</summary>
    static string Verb(ParseResult parse)
    {
        var names = new List<string>();
        for (var command = parse.CommandResult; command is not null; command = command.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, command.Parent is null ? "studio" : command.Command.Name);
        return string.Join(' ', names);
    }
}
