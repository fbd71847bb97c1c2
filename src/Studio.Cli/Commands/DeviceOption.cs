using System.CommandLine;
using Studio.Ml;
using static TorchSharp.torch;

namespace Studio.Cli;

/// <summary>`--device cpu|cuda|cuda:N` of every verb that computes; read with <see cref="ComputeDevice.Parse"/>.</summary>
public static class DeviceOption
{
    public static Option<string> Create() =>
        new("--device") { Description = "where to compute: cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };

    /// <summary>The device the option names; an <see cref="ArgumentException"/> says why not.</summary>
    public static Device Parse(ParseResult parse, Option<string> option) => ComputeDevice.Parse(parse.GetValue(option));
}
