using Studio.Cli;

namespace Studio.Cli.Tests;

[Collection("console")]
public class VersionTests
{
    static (int Code, string Output) Run(params string[] args)
    {
        var original = Console.Out;
        var writer = new StringWriter();
        Console.SetOut(writer);
        try { return (StudioCli.Run(args), writer.ToString()); }
        finally { Console.SetOut(original); }
    }

    [Fact]
    public void VersionPrintsTheStudioVersionAndBackend()
    {
        var (code, output) = Run("version");
        Assert.Equal(0, code);
        Assert.Matches(@"^studio \d+\.\d+\.\d+", output);
        Assert.Contains("LibTorch", output);
    }

    [Fact]
    public void HelpListsTheVerbs()
    {
        var (code, output) = Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("version", output);
    }

    [Fact]
    public void UnknownVerbFails()
    {
        var (code, _) = Run("no-such-verb");
        Assert.NotEqual(0, code);
    }
}
