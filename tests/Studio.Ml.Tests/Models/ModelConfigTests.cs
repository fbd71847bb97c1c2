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
}
