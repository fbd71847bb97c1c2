using Studio.Cli;

namespace Studio.Cli.Tests;

/// <summary>Runs `studio` in-process and captures what it prints. Tests using it join the "console" collection.</summary>
public static class Cli
{
    public static (int Code, string Output, string Error) Run(params string[] args)
    {
        var (originalOut, originalError) = (Console.Out, Console.Error);
        var (output, error) = (new StringWriter(), new StringWriter());
        Console.SetOut(output);
        Console.SetError(error);
        try { return (StudioCli.Run(args), output.ToString(), error.ToString()); }
        finally { Console.SetOut(originalOut); Console.SetError(originalError); }
    }
}
