using System.Text.Json.Nodes;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Common;

namespace Studio.Ml.Tests.Models;

/// <summary>transformers' CLIPModel, both towers (what CLIP score is measured with).</summary>
public class ClipModelTests
{
    public ClipModelTests() => TorchRuntime.Initialise();

    [Fact]
    public void ClipModelMatchesTheReferenceForBothTowersTheirProjectionsAndTheLogits() => FixtureAssert.Matches("clip");

    static ModelConfig Config(Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("clip"), "config.json")))!.AsObject();
        edit(json);
        return new ModelConfig(json, "clip/config.json");
    }

    [Fact]
    public void TheConfigReadsBothTowersAndTheProjectionWidth()
    {
        var config = ClipModelConfig.From(Config(_ => { }));
        Assert.Equal(16, config.ProjectionDim);
        Assert.Equal((32, 8, 4, 3), (config.Vision.ImageSize, config.Vision.PatchSize, config.Vision.PatchesPerSide, config.Vision.NumChannels));
        Assert.Equal("quick_gelu", config.Vision.HiddenAct);
        Assert.Equal(("gelu", 99, 98L), (config.Text.HiddenAct, config.Text.VocabSize, config.Text.EosTokenId));
    }

    [Theory]
    [InlineData("model_type", "\"clip_text_model\"", "field 'model_type' is 'clip_text_model', not 'clip'")]
    [InlineData("vision_config", null, "field 'vision_config' is missing")]
    [InlineData("projection_dim", "0", "field 'projection_dim' must be a positive integer, found 0")]
    public void ABadConfigIsRefusedNamingItsField(string field, string? value, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => ClipModelConfig.From(Config(json =>
        {
            if (value is null) json.Remove(field);
            else json[field] = JsonNode.Parse(value);
        })));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void AVisionTowerWhosePatchesDoNotTileTheImageIsRefused()
    {
        var error = Assert.Throws<InvalidDataException>(() => ClipModelConfig.From(Config(json => json["vision_config"]!["patch_size"] = 7)));
        Assert.Contains("(vision_config): field 'patch_size' (7) must divide image_size (32)", error.Message);
    }
}
