using Studio.Tests;
using System.Text.RegularExpressions;

namespace Studio.Web.Tests;

/// <summary>
/// Pages subscribe to pushed data (RunFeed, EvaluationFeed, GenerationFeed, PulseFeed); what other processes do reaches
/// them through LiveTailer. A page that starts a timer or a delay loop of its own fails here.
/// </summary>
public class NoPollingTests
{
    static readonly Regex Polling = new(@"PeriodicTimer|System\.Threading\.Timer|new\s+Timer\s*\(|Task\.Delay\s*\(|Thread\.Sleep\s*\(");

    public static IEnumerable<object[]> ComponentFiles() =>
        Directory.EnumerateFiles(Path.Combine(RepoRoot.Folder, "src", "Studio.Web", "Components"), "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".razor") || f.EndsWith(".razor.cs") || f.EndsWith(".cs"))
            .Select(f => new object[] { Path.GetRelativePath(RepoRoot.Folder, f) });

    [Theory]
    [MemberData(nameof(ComponentFiles))]
    public void NoComponentPolls(string file)
    {
        var lines = File.ReadAllLines(Path.Combine(RepoRoot.Folder, file));
        var hits = lines.Select((l, i) => (Line: i + 1, Text: l.Trim())).Where(l => Polling.IsMatch(l.Text)).ToList();
        Assert.True(hits.Count == 0, $"{file} polls: {string.Join("; ", hits.Select(h => $"line {h.Line}: {h.Text}"))}");
    }

    [Fact]
    public void TheCheckSeesTimers()
    {
        Assert.Matches(Polling, "using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));");
        Assert.Matches(Polling, "await Task.Delay(500);");
        Assert.True(ComponentFiles().Count() > 10);
    }
}
