using System.Text.Json.Nodes;
using Studio.Ml.Models.Common;

namespace Studio.Ml.Tests.Models;

public class ModelConfigTests
{
    static ModelConfig Parse(string json) => new((JsonObject)JsonNode.Parse(json)!, "cfg.json");

    [Fact]
    public void ReadsTypedFieldsAndFallbacks()
    {
        var c = Parse("""{"a": 3, "b": 0.5, "c": true, "d": "x", "e": [1, 2], "f": null}""");
        Assert.Equal(3, c.Int("a"));
        Assert.Equal(0.5, c.Double("b"));
        Assert.True(c.Bool("c"));
        Assert.Equal("x", c.String("d"));
        Assert.Equal([1, 2], c.IntArray("e"));
        Assert.Null(c.OptionalDouble("f"));
        Assert.Equal(7, c.Int("missing", 7));
    }

    [Theory]
    [InlineData("""{}""", "'a' is missing")]
    [InlineData("""{"a": "3"}""", "'a' must be an integer, found \"3\"")]
    [InlineData("""{"a": 1.5}""", "'a' must be an integer, found 1.5")]
    public void ErrorsNameTheFileAndTheField(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => Parse(json).Int("a"));
        Assert.StartsWith("cfg.json: field ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ListErrorsNameTheItem()
    {
        var e = Assert.Throws<InvalidDataException>(() => Parse("""{"e": [1, "two"]}""").IntArray("e"));
        Assert.Contains("field 'e' must be a list of integers; item 1 is \"two\"", e.Message);
    }

    [Fact]
    public void AConfigFileStartingWithAByteOrderMarkLoads()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("config-bom"), "config.json");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. """{"d_model": 64}"""u8]);
        Assert.Equal(64, ModelConfig.Load(path).Int("d_model"));
    }

    [Fact]
    public void AByteOrderMarkDoesNotExcuseOtherBytes()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("config-bom"), "config.json");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, 0xFF, .. """{"d_model": 64}"""u8]);
        var e = Assert.Throws<InvalidDataException>(() => ModelConfig.Load(path));
        Assert.Equal($"{path}: not valid UTF-8 text", e.Message);
    }
}
