using System.Text.Json.Nodes;
using Studio.Ml.Diffusion;
using Studio.Ml.Evaluation;
using Studio.Ml.Models.Clip;
using Studio.Ml.Models.Common;
using Studio.Ml.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Evaluation;

/// <summary>CLIP score: the formula, CLIP's image preprocessing, and the scorer from a CLIP folder.</summary>
public class ClipScorerTests
{
    public ClipScorerTests() => TorchRuntime.Initialise();

    [Fact]
    public void TheScoreIsAHundredTimesTheCosineOfEachPair()
    {
        using var text = torch.tensor(new double[,] { { 1, 0 }, { 2, 2 }, { 1, 0 } });
        using var image = torch.tensor(new double[,] { { 0, 3 }, { 5, 0 }, { -1, 0 } });
        var scores = ClipScorer.FromFeatures(text, image);
        Assert.Equal(0, scores[0], 9);
        Assert.Equal(100 / Math.Sqrt(2), scores[1], 9);
        Assert.Equal(-100, scores[2], 9);
    }

    static readonly ClipImageProcessing At32 = new(32, 32, 32, ClipImageProcessing.OpenAiMean, ClipImageProcessing.OpenAiStd);

    static RgbImage Image(int height, int width, Func<int, int, (byte R, byte G, byte B)> colour)
    {
        var rgb = new byte[height * width * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                (rgb[(y * width + x) * 3], rgb[(y * width + x) * 3 + 1], rgb[(y * width + x) * 3 + 2]) = colour(y, x);
        return new RgbImage(width, height, rgb);
    }

    [Fact]
    public void AnImageIsResizedByItsShorterSideCentreCroppedAndNormalisedPerChannel()
    {
        // 48 x 64: the shorter side to 32, the longer to floor(32 * 64 / 48) = 42, then the centre 32 x 32.
        Assert.Equal((32, 42), At32.Resized(48, 64));
        Assert.Equal((42, 32), At32.Resized(64, 48));
        using var pixels = At32.PixelValues([Image(48, 64, (_, _) => (200, 100, 0))], CPU);
        Assert.Equal([1L, 3, 32, 32], pixels.shape);
        // A flat colour stays flat through the resize: (c / 255 - mean) / std in each channel.
        double[] expected = [.. new[] { 200.0, 100, 0 }.Select((c, i) => (c / 255 - ClipImageProcessing.OpenAiMean[i]) / ClipImageProcessing.OpenAiStd[i])];
        for (int c = 0; c < 3; c++)
        {
            using var channel = pixels[0, c];
            Assert.Equal(expected[c], channel.min().item<float>(), 4);
            Assert.Equal(expected[c], channel.max().item<float>(), 4);
        }
    }

    [Fact]
    public void TheCropIsCentredOnTheLongerSide()
    {
        // 32 x 40 needs no resize; the crop starts at column (40 - 32) / 2 = 4, which is the only white one.
        using var pixels = At32.PixelValues([Image(32, 40, (_, x) => x == 4 ? ((byte)255, (byte)255, (byte)255) : ((byte)0, (byte)0, (byte)0))], CPU);
        var white = (1 - ClipImageProcessing.OpenAiMean[0]) / ClipImageProcessing.OpenAiStd[0];
        var black = -ClipImageProcessing.OpenAiMean[0] / ClipImageProcessing.OpenAiStd[0];
        Assert.Equal(white, pixels[0, 0, 10, 0].item<float>(), 5);
        Assert.Equal(black, pixels[0, 0, 10, 1].item<float>(), 5);
        Assert.Equal(black, pixels[0, 0, 10, 31].item<float>(), 5);
    }

    /// <summary>
    /// Against PIL itself (tests/fixtures/images/clip_image_processor, made by its make_reference.py with PIL's bicubic
    /// resize, as CLIPImageProcessor resizes): enlarged (64 px, the toy teacher's), reduced (512 px, FLUX's) and both,
    /// then the centre 224 x 224. The 8-bit values agree except where PIL's fixed-point sums round the other way (one
    /// level, in 0.26% of the values at most; one resize in float without PIL's rounding and clipping after each pass was
    /// 57 levels off where a white line's overshoot passed 255).
    /// </summary>
    [Fact]
    public void TheResizeAndCropAreThoseOfClipImageProcessorWithPil()
    {
        var folder = Path.Combine(TestPaths.Fixtures, "images", "clip_image_processor");
        var at224 = new ClipImageProcessing(224, 224, 224, ClipImageProcessing.OpenAiMean, ClipImageProcessing.OpenAiStd);
        using var mean = torch.tensor(ClipImageProcessing.OpenAiMean, dtype: ScalarType.Float32).view(3, 1, 1);
        using var std = torch.tensor(ClipImageProcessing.OpenAiStd, dtype: ScalarType.Float32).view(3, 1, 1);
        foreach (var name in new[] { "64x64", "512x512", "96x80", "300x180" })
        {
            var reference = RgbImage.FromPng(Path.Combine(folder, $"{name}.processed.png"));
            Assert.Equal((224, 224), (reference.Height, reference.Width));
            using var pil = torch.tensor(reference.Rgb, [224, 224, 3]).permute(2, 0, 1).to_type(ScalarType.Float32);
            using var pixels = at224.PixelValues([RgbImage.FromPng(Path.Combine(folder, $"{name}.png"))], CPU);
            // Back to 8-bit units: (x * std + mean) * 255.
            using var levels = (pixels[0] * std + mean) * 255;
            using var off = (levels - pil).abs();
            var largest = off.max().item<float>();
            var differing = off.gt(0.01).sum().item<long>() / (double)off.NumberOfElements;
            Assert.True(largest < 1.01, $"{name}: a value is {largest} levels from PIL's");
            Assert.True(differing < 0.01, $"{name}: {differing:P2} of the values differ from PIL's");
        }
    }

    /// <summary>The reference CLIP case with a tokenizer of its 99 ids: single letters, no merges.</summary>
    static string ScorerFolder()
    {
        var folder = TestPaths.NewTempDirectory("clip-scorer");
        foreach (var file in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(TestPaths.Fixture("clip"), file), Path.Combine(folder, file));
        var vocab = new JsonObject();
        var id = 0;
        foreach (var letter in "abcdefghijklmnopqrstuvwxyz")
        {
            vocab[letter.ToString()] = id++;
            vocab[letter + "</w>"] = id++;
        }
        vocab["<|startoftext|>"] = 97;
        vocab["<|endoftext|>"] = 98;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), vocab.ToJsonString());
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n");
        File.WriteAllText(Path.Combine(folder, "preprocessor_config.json"),
            """{"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.5, 1.0]}""");
        return folder;
    }

    [Fact]
    public void TheScorerGivesEachImageTheScoreOfItsOwnPromptAcrossBatches()
    {
        var folder = ScorerFolder();
        var prompts = Enumerable.Range(0, 17).Select(i => i % 2 == 0 ? "a red cat" : $"the {(char)('a' + i)} dog").ToList();
        var images = Enumerable.Range(0, 17).Select(i => Image(40, 36, (y, x) => ((byte)(i * 13 + x), (byte)(y * 5), (byte)(255 - i * 9)))).ToList();
        using var scorer = ClipScorer.Load(folder);
        Assert.Equal((32, 32, 32), (scorer.Processing.ShortestEdge, scorer.Processing.CropHeight, scorer.Processing.CropWidth));
        Assert.Equal([0.5, 0.5, 0.5], scorer.Processing.Mean);
        Assert.Equal([0.25, 0.5, 1.0], scorer.Processing.Std);

        var scores = scorer.Score(prompts, images);

        // Each pair on its own, through the model's two towers: the same scores, in the same order.
        using var model = ClipModel.Load(folder);
        var tokenizer = TextTokenizer.Load(folder);
        Assert.Equal(17, scores.Count);
        for (int i = 0; i < 17; i++)
        {
            using var scope = NewDisposeScope();
            var (ids, _) = tokenizer.EncodeBatch([prompts[i]], 77);
            Assert.Equal([97, .. prompts[i].Split(' ').SelectMany(w => w.Select((c, k) => 2 * (c - 'a') + (k == w.Length - 1 ? 1 : 0))), 98], ids[0].data<long>().ToArray().Take(prompts[i].Replace(" ", "").Length + 2).Select(v => (int)v));
            var expected = ClipScorer.FromFeatures(model.TextFeatures(ids), model.ImageFeatures(scorer.Processing.PixelValues([images[i]], CPU)))[0];
            Assert.Equal(expected, scores[i], 1e-4);
        }
        Assert.Contains(scores, s => s != scores[0]);
    }

    [Theory]
    [InlineData("""{"image_std": [0, 1, 1]}""", "field 'image_std' must be positive")]
    [InlineData("""{"image_mean": [0.5, 0.5]}""", "field 'image_mean' must be three numbers")]
    [InlineData("""{"size": {"shortest_edge": 16}, "crop_size": 32}""", "crop_size (32 x 32) is larger than the resized shorter side (16)")]
    [InlineData("""{"size": "big"}""", "'\"big\"' is not a size in pixels")]
    // Values of the wrong JSON kind inside (these threw InvalidOperationException from System.Text.Json)
    [InlineData("""{"size": {"shortest_edge": "224"}}""", "is not a size in pixels (shortest_edge or height)")]
    [InlineData("""{"image_mean": ["0.5", 0.5, 0.5]}""", "field 'image_mean' must be three numbers")]
    public void ABadPreprocessorConfigIsRefusedNamingTheFieldAndValue(string json, string message)
    {
        var folder = TestPaths.NewTempDirectory("clip-preprocessor");
        File.WriteAllText(Path.Combine(folder, "preprocessor_config.json"), json);
        var vision = ClipModelConfig.Load(Path.Combine(TestPaths.Fixture("clip"), "config.json")).Vision;
        var error = Assert.Throws<InvalidDataException>(() => ClipImageProcessing.For(folder, vision));
        Assert.Contains("preprocessor_config.json", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void WithoutAPreprocessorConfigOpenAiClipsValuesAtTheTowersImageSize()
    {
        var vision = ClipModelConfig.Load(Path.Combine(TestPaths.Fixture("clip"), "config.json")).Vision;
        var processing = ClipImageProcessing.For(TestPaths.NewTempDirectory("clip-none"), vision);
        Assert.Equal((32, 32, 32), (processing.ShortestEdge, processing.CropHeight, processing.CropWidth));
        Assert.Equal(ClipImageProcessing.OpenAiMean, processing.Mean);
    }

    [Fact]
    public void AFolderWhoseTokenizerHasMoreIdsThanTheTextTowerIsRefused()
    {
        var folder = ScorerFolder();
        var vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "vocab.json")))!.AsObject();
        vocab["zz"] = 120;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), vocab.ToJsonString());
        var error = Assert.Throws<InvalidDataException>(() => ClipScorer.Load(folder));
        Assert.Contains("the tokenizer has 121 ids, the text tower's vocab_size is 99", error.Message);
    }
}
