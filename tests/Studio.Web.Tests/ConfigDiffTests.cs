using Bunit;
using MudBlazor.Services;
using Studio.Ml.Distillation;
using Studio.Web.Components.Runs;

namespace Studio.Web.Tests;

/// <summary>What changed between two run configurations (a fork and its parent): values, not formatting.</summary>
public class ConfigDiffTests
{
    static BunitContext NewContext()
    {
        var ctx = new BunitContext();
        ctx.Services.AddMudServices();
        return ctx;
    }

    [Fact]
    public async Task AChangedValueIsOneLineRemovedAndOneAddedAndTheRestIsUnchanged()
    {
        await using var ctx = NewContext();
        var parent = RunPresets.Find("toy").Create();
        var fork = RunPresets.Find("toy").Create();
        fork.Optimizer.Lr = 1e-4;
        var cut = ctx.Render<ConfigDiff>(p => p.Add(c => c.Before, parent.ToYaml()).Add(c => c.After, fork.ToYaml()));

        var deleted = cut.FindAll("[data-change=Deleted]").Select(l => l.TextContent).ToList();
        var inserted = cut.FindAll("[data-change=Inserted]").Select(l => l.TextContent).ToList();
        Assert.Contains("lr", Assert.Single(deleted));
        Assert.Contains("0.0003", deleted[0]);
        Assert.Contains("0.0001", Assert.Single(inserted));
        Assert.True(cut.FindAll("[data-change=Unchanged]").Count > 10);
        Assert.Empty(cut.FindAll("[data-testid=config-diff-same]"));
    }

    [Fact]
    public async Task TheSameConfigurationWrittenDifferentlyIsTheSame()
    {
        await using var ctx = NewContext();
        var config = RunPresets.Find("toy").Create();
        // The same keys in the reverse order (each top-level block moved whole), with a comment: written differently.
        var blocks = new List<List<string>>();
        foreach (var line in config.ToYaml().Split('\n').Where(l => l.Length > 0))
            if (char.IsWhiteSpace(line[0]) || line.StartsWith('-')) blocks[^1].Add(line); else blocks.Add([line]);
        blocks.Reverse();
        var reordered = "# written by hand\n" + string.Join('\n', blocks.SelectMany(b => b)) + "\n";
        Assert.NotEqual(config.ToYaml(), reordered);
        var cut = ctx.Render<ConfigDiff>(p => p.Add(c => c.Before, config.ToYaml()).Add(c => c.After, reordered));
        Assert.Single(cut.FindAll("[data-testid=config-diff-same]"));
        Assert.Empty(cut.FindAll("[data-change=Deleted]"));
    }
}
