using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Toy;

public class ToySceneTests
{
    const string TwoObjects = """
        {"background":{"kind":"gradient","colour":"light-blue","second":"navy"},
         "objects":[{"shape":"star","colour":"pink","size":"large","col":2,"row":0},
                    {"shape":"cross","colour":"cyan","size":"small","col":0,"row":1}]}
        """;

    [Fact]
    public void ParsesHandWrittenJson()
    {
        var scene = ToyScene.FromJson(TwoObjects);
        Assert.Equal(new ToyBackground(BackgroundKind.Gradient, BackgroundColour.LightBlue, BackgroundColour.Navy), scene.Background);
        Assert.Equal([new ToyObject(ToyShape.Star, ToyColour.Pink, ToySize.Large, 2, 0), new ToyObject(ToyShape.Cross, ToyColour.Cyan, ToySize.Small, 0, 1)], scene.Objects);
        Assert.Null(scene.Word);
    }

    [Fact]
    public void EveryGeneratedSceneSurvivesAJsonRoundTrip()
    {
        foreach (var prompt in ToyPrompts.Generate(ToyCriteria.All, 100, seed: 5, ToySplit.Train))
        {
            var json = prompt.Scene.ToJson();
            Assert.Equal(prompt.Scene, ToyScene.FromJson(json));
            Assert.DoesNotContain("\\u0027", json);
        }
    }

    [Fact]
    public void WritesEnumsInKebabCaseAndLeavesOutAbsentFields()
    {
        var scene = new ToyScene(new ToyBackground(BackgroundKind.Plain, BackgroundColour.LightBlue), [], new ToyWord("HI", ToyColour.Red, 1));
        Assert.Equal("""{"background":{"kind":"plain","colour":"light-blue"},"objects":[],"word":{"text":"HI","colour":"red","row":1}}""", scene.ToJson());
    }

    [Theory]
    [InlineData("""{"background":{"kind":"plain","colour":"white"},"objects":[{"shape":"circle","colour":"red","size":"small","col":3,"row":0}]}""", "scene.objects[0].col: 3 is outside the 3x3 grid")]
    [InlineData("""{"background":{"kind":"plain","colour":"white"},"objects":[{"shape":"circle","colour":"mauve","size":"small","col":0,"row":0}]}""", "$.objects[0].colour")]
    [InlineData("""{"background":{"kind":"gradient","colour":"white"},"objects":[]}""", "scene.background.second: is required for a gradient background")]
    [InlineData("""{"background":{"kind":"stripes","colour":"white","second":"white"},"objects":[]}""", "scene.background.second: must differ")]
    [InlineData("""{"background":{"kind":"plain","colour":"white"},"objects":[],"word":{"text":"cat","colour":"red","row":1}}""", "scene.word.text: 'cat' must be capital letters")]
    [InlineData("""{"background":{"kind":"plain","colour":"white"},"objects":[],"word":{"text":"ABCDEF","colour":"red","row":1}}""", "scene.word.text: 'ABCDEF' must have 2-5 letters")]
    [InlineData("""{"background":{"kind":"plain","colour":"white"},"objects":[{"shape":"circle","colour":"red","size":"small","col":0,"row":0}],"word":{"text":"HI","colour":"red","row":2}}""", "scene.word: cannot be combined with objects")]
    [InlineData("""{"background":{"kind":"plain","colour":"white"},"objects":[{"shape":"circle","colour":"red","size":"small","col":1,"row":1},{"shape":"star","colour":"blue","size":"small","col":1,"row":1}]}""", "scene.objects[1]: shares cell (1, 1) with objects[0]")]
    [InlineData("""{"objects":[]}""", "background")]
    public void RejectsBadScenesNamingTheField(string json, string expected)
    {
        var error = Assert.Throws<ToySceneException>(() => ToyScene.FromJson(json, "test.json"));
        Assert.StartsWith("test.json: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void RejectsMoreThanFourObjects()
    {
        var objects = Enumerable.Range(0, 5).Select(i => new ToyObject(ToyShape.Circle, ToyColour.Red, ToySize.Small, i % 3, i / 3)).ToArray();
        var error = Assert.Throws<ToySceneException>(() => new ToyScene(new ToyBackground(BackgroundKind.Plain, BackgroundColour.White), objects).Validate());
        Assert.Contains("scene.objects: has 5 entries; at most 4", error.Message);
    }

    [Fact]
    public void PromptFileRoundTripsAndNamesTheLineAtFault()
    {
        var dir = TestPaths.NewTempDirectory("toy-prompts");
        var path = Path.Combine(dir, ToyPromptFile.FileName);
        var lines = ToyPrompts.Generate(ToyCriteria.All, 6, seed: 2, ToySplit.Train)
            .Select((p, i) => new ToyPromptLine(i, $"{i}.png", p.Category, p.Text, p.Scene)).ToArray();
        ToyPromptFile.Write(path, lines);
        var back = ToyPromptFile.Read(path);
        Assert.Equal(lines.Select(l => (l.Index, l.Image, l.Category, l.Prompt, l.Scene)), back.Select(l => (l.Index, l.Image, l.Category, l.Prompt, l.Scene)));

        File.AppendAllText(path, """{"index":6,"image":"6.png","category":"text","prompt":"x","scene":{"background":{"kind":"plain","colour":"white"},"objects":[],"word":{"text":"HI","colour":"red","row":5}}}""" + "\n");
        var error = Assert.Throws<ToySceneException>(() => ToyPromptFile.Read(path));
        Assert.Contains($"{path}:7: scene.word.row: 5 is outside", error.Message);
        Directory.Delete(dir, true);
    }
}
