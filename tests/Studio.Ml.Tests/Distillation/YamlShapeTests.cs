using Studio.Ml.Distillation;

namespace Studio.Ml.Tests.Distillation;

public class YamlShapeTests
{
    sealed class Shape0 { public string? Name0 { get; set; } public string Text0 { get; set; } = ""; public List<int>? Values0 { get; set; } public Shape1? Next { get; set; } }
    sealed class Shape1 { public string? Name1 { get; set; } public string Text1 { get; set; } = ""; public List<int>? Values1 { get; set; } public Shape2? Next { get; set; } }
    sealed class Shape2 { public string? Name2 { get; set; } public string Text2 { get; set; } = ""; public List<int>? Values2 { get; set; } public Shape3? Next { get; set; } }
    sealed class Shape3 { public string? Name3 { get; set; } public string Text3 { get; set; } = ""; public List<int>? Values3 { get; set; } public Shape4? Next { get; set; } }
    sealed class Shape4 { public string? Name4 { get; set; } public string Text4 { get; set; } = ""; public List<int>? Values4 { get; set; } public Shape5? Next { get; set; } }
    sealed class Shape5 { public string? Name5 { get; set; } public string Text5 { get; set; } = ""; public List<int>? Values5 { get; set; } public Shape6? Next { get; set; } }
    sealed class Shape6 { public string? Name6 { get; set; } public string Text6 { get; set; } = ""; public List<int>? Values6 { get; set; } public Shape7? Next { get; set; } }
    sealed class Shape7 { public string? Name7 { get; set; } public string Text7 { get; set; } = ""; public List<int>? Values7 { get; set; } public Shape8? Next { get; set; } }
    sealed class Shape8 { public string? Name8 { get; set; } public string Text8 { get; set; } = ""; public List<int>? Values8 { get; set; } public Shape9? Next { get; set; } }
    sealed class Shape9 { public string? Name9 { get; set; } public string Text9 { get; set; } = ""; public List<int>? Values9 { get; set; } public Shape10? Next { get; set; } }
    sealed class Shape10 { public string? Name10 { get; set; } public string Text10 { get; set; } = ""; public List<int>? Values10 { get; set; } public Shape11? Next { get; set; } }
    sealed class Shape11 { public string? Name11 { get; set; } public string Text11 { get; set; } = ""; public List<int>? Values11 { get; set; } public Shape12? Next { get; set; } }
    sealed class Shape12 { public string? Name12 { get; set; } public string Text12 { get; set; } = ""; public List<int>? Values12 { get; set; } public Shape13? Next { get; set; } }
    sealed class Shape13 { public string? Name13 { get; set; } public string Text13 { get; set; } = ""; public List<int>? Values13 { get; set; } public Shape14? Next { get; set; } }
    sealed class Shape14 { public string? Name14 { get; set; } public string Text14 { get; set; } = ""; public List<int>? Values14 { get; set; } public Shape15? Next { get; set; } }
    sealed class Shape15 { public string? Name15 { get; set; } public string Text15 { get; set; } = ""; public List<int>? Values15 { get; set; } public Shape16? Next { get; set; } }
    sealed class Shape16 { public string? Name16 { get; set; } public string Text16 { get; set; } = ""; public List<int>? Values16 { get; set; } public Shape17? Next { get; set; } }
    sealed class Shape17 { public string? Name17 { get; set; } public string Text17 { get; set; } = ""; public List<int>? Values17 { get; set; } public Shape18? Next { get; set; } }
    sealed class Shape18 { public string? Name18 { get; set; } public string Text18 { get; set; } = ""; public List<int>? Values18 { get; set; } public Shape19? Next { get; set; } }
    sealed class Shape19 { public string? Name19 { get; set; } public string Text19 { get; set; } = ""; public List<int>? Values19 { get; set; } public Shape20? Next { get; set; } }
    sealed class Shape20 { public string? Name20 { get; set; } public string Text20 { get; set; } = ""; public List<int>? Values20 { get; set; } public Shape21? Next { get; set; } }
    sealed class Shape21 { public string? Name21 { get; set; } public string Text21 { get; set; } = ""; public List<int>? Values21 { get; set; } public Shape22? Next { get; set; } }
    sealed class Shape22 { public string? Name22 { get; set; } public string Text22 { get; set; } = ""; public List<int>? Values22 { get; set; } public Shape23? Next { get; set; } }
    sealed class Shape23 { public string? Name23 { get; set; } public string Text23 { get; set; } = ""; public List<int>? Values23 { get; set; } public Shape0? Next { get; set; } }

    [Fact]
    public async Task ShapesAreCheckedOnManyThreadsAtOnce()
    {
        // Each thread checks every shape for the first time in this process, together: the nullability of each property is
        // read as they go (a shared NullabilityInfoContext threw "An item with the same key has already been added").
        const string yaml = "next: { next: { next: { } } }\n";
        var types = typeof(YamlShapeTests).GetNestedTypes(System.Reflection.BindingFlags.NonPublic).Where(t => t.Name.StartsWith("Shape")).ToList();
        Assert.Equal(24, types.Count);
        using var start = new Barrier(8);
        var checks = Enumerable.Range(0, 8).Select(k => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            foreach (var type in types.Skip(k * 3).Concat(types.Take(k * 3))) Assert.Empty(YamlShape.Problems(yaml, type));
        }, TaskCreationOptions.LongRunning)).ToList();
        await Task.WhenAll(checks);
        // A field of the wrong kind is still named.
        Assert.Contains(YamlShape.Problems("next: [1]\n", types[0]), p => p.Field == "next");
    }

    [Theory]
    // YamlDotNet 18 throws an InvalidOperationException, not a YamlException, for a '[' or '{' still open when a later
    // line starts a key, and an ArgumentException for a tag that is not a URI: before, the studio showed those messages
    // ("Operation is not valid due to the current state of the object."), and the HTTP API answered 500.
    [InlineData("seed: [1\nstages: 3\n", 1, "not valid YAML: the '[' on this line is not closed")]
    [InlineData("seed: 1\noptimizer: { lr: 1\nname: x\n", 2, "not valid YAML: the '{' on this line is not closed")]
    [InlineData("a:\n  b: [1, {c: [2\n  d: 3\n", 2, "not valid YAML: the '[' on this line is not closed")]
    [InlineData("seed: 1\nvalidation: { prompts: !![ 1 ] }\n", 2, "not valid YAML: Global tags must be valid URIs.")]
    [InlineData("seed: [1, 2\n", 2, "not valid YAML: ")] // a YamlException: end of the document inside the list
    public void TextYamlDotNetCannotReadIsAProblemByLine(string yaml, long line, string message)
    {
        Assert.Null(YamlShape.Load(yaml, out var problem));
        Assert.Equal(line, problem!.Line);
        Assert.StartsWith(message, problem.Message);
        var reported = Assert.Single(YamlShape.Problems(yaml, typeof(RunConfig)));
        Assert.Equal(problem, reported);
        var refused = Assert.Throws<RunConfigException>(() => RunConfig.FromYaml(yaml, "bad.yaml"));
        Assert.Contains($"line {line}: {message}", refused.Message);
    }
}
