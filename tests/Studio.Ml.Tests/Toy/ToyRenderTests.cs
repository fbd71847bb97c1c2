using Studio.Ml.Toy;
using TorchSharp;

namespace Studio.Ml.Tests.Toy;

public class ToyRenderTests
{
    static readonly ToyBackground White = new(BackgroundKind.Plain, BackgroundColour.White);

    static (byte R, byte G, byte B) PixelAt(byte[] rgb, int x, int y) => (rgb[(y * 64 + x) * 3], rgb[(y * 64 + x) * 3 + 1], rgb[(y * 64 + x) * 3 + 2]);

    [Fact]
    public void DrawsAnObjectInItsCellOverTheBackground()
    {
        var rgb = ToyRenderer.RenderRgb(new ToyScene(White, [new ToyObject(ToyShape.Square, ToyColour.Blue, ToySize.Large, 2, 0)]));
        // Cell (2, 0) is centred at (53.33, 10.67); a large square spans 0.8 * 9 = 7.2 px either side of it.
        Assert.Equal(((byte)40, (byte)80, (byte)220), PixelAt(rgb, 53, 10));
        Assert.Equal(((byte)40, (byte)80, (byte)220), PixelAt(rgb, 46, 4));
        Assert.Equal(((byte)250, (byte)250, (byte)250), PixelAt(rgb, 45, 10));
        Assert.Equal(((byte)250, (byte)250, (byte)250), PixelAt(rgb, 32, 32));
        int blue = Enumerable.Range(0, 4096).Count(i => rgb[i * 3] == 40 && rgb[i * 3 + 2] == 220);
        Assert.Equal(15 * 15, blue);
    }

    [Fact]
    public void InkIsEveryPixelAnObjectOrPlateCoversAndNothingElse()
    {
        var stripes = new ToyBackground(BackgroundKind.Stripes, BackgroundColour.Navy, BackgroundColour.Beige);
        Assert.All(ToyRenderer.InkMask(new ToyScene(stripes, [])), m => Assert.Equal(0f, m));
        var square = ToyRenderer.InkMask(new ToyScene(stripes, [new ToyObject(ToyShape.Square, ToyColour.Blue, ToySize.Large, 2, 0)]));
        Assert.Equal(15 * 15, square.Count(m => m == 1));                    // the large square of the test above
        Assert.Equal(1f, square[10 * 64 + 53]);
        Assert.Equal(0f, square[10 * 64 + 45]);
        // A plated word: the plate (a background colour, but not this scene's) is ink too: (22 + 6) x (14 + 6) px.
        var plated = ToyRenderer.InkMask(new ToyScene(White, [], new ToyWord("HI", ToyColour.Red, 1, BackgroundColour.Black)));
        Assert.Equal(28 * 20, plated.Count(m => m == 1));
    }

    [Theory]
    [InlineData(ToyShape.Circle, ToySize.Large, Math.PI * 81)]
    [InlineData(ToyShape.Circle, ToySize.Small, Math.PI * 5.5 * 5.5)]
    [InlineData(ToyShape.Triangle, ToySize.Large, 0.5 * 18 * 16.2)]
    [InlineData(ToyShape.Cross, ToySize.Large, 2 * 18 * 5.94 - 5.94 * 5.94)]
    [InlineData(ToyShape.Star, ToySize.Large, 5 * 9 * 4.5 * 0.5878)]
    public void ShapeAreasMatchTheirGeometry(ToyShape shape, ToySize size, double area)
    {
        var pixels = ToyRenderer.ObjectPixels(new ToyObject(shape, ToyColour.Red, size, 1, 1)).Count();
        Assert.InRange(pixels, area * 0.85, area * 1.15);
    }

    [Fact]
    public void DrawsWordsWithTheFontCentredInTheirRow()
    {
        var rgb = ToyRenderer.RenderRgb(new ToyScene(White, [], new ToyWord("HI", ToyColour.Red, 1, BackgroundColour.Black)));
        // Two letters are 2 * 12 - 2 = 22 px wide: left edge (64 - 22) / 2 = 21; row 1's middle is 32, so the top is 25.
        var red = ((byte)220, (byte)40, (byte)40);
        var black = ((byte)25, (byte)25, (byte)25);
        Assert.Equal(red, PixelAt(rgb, 21, 25));   // H: left stem, top row
        Assert.Equal(red, PixelAt(rgb, 22, 38));   // H: left stem, bottom row (25 + 13)
        Assert.Equal(black, PixelAt(rgb, 23, 25)); // H: no ink in column 1 of row 0
        Assert.Equal(red, PixelAt(rgb, 23, 31));   // H: crossbar, row 3
        Assert.Equal(black, PixelAt(rgb, 33, 25)); // I: column 0 is empty (I starts at 21 + 12 = 33)
        Assert.Equal(red, PixelAt(rgb, 35, 25));   // I: serif, column 1
        Assert.Equal(black, PixelAt(rgb, 18, 22)); // the plate reaches 3 px beyond the word
        Assert.Equal(((byte)250, (byte)250, (byte)250), PixelAt(rgb, 17, 22));
        Assert.Equal(((byte)250, (byte)250, (byte)250), PixelAt(rgb, 21, 21));
    }

    [Fact]
    public void FiveLetterWordsFitTheImage()
    {
        Assert.Equal(58, ToyFont.WordWidth(5));
        Assert.Equal(3, ToyFont.WordLeft(5));
        var rgb = ToyRenderer.RenderRgb(new ToyScene(White, [], new ToyWord("MMMMM", ToyColour.Red, 2)));
        Assert.Equal(((byte)220, (byte)40, (byte)40), PixelAt(rgb, 3, 46));
        Assert.Equal(((byte)220, (byte)40, (byte)40), PixelAt(rgb, 60, 46));
        Assert.Equal(((byte)250, (byte)250, (byte)250), PixelAt(rgb, 61, 46));
    }

    [Theory]
    [InlineData(BackgroundKind.Gradient)]
    [InlineData(BackgroundKind.Stripes)]
    [InlineData(BackgroundKind.Checks)]
    public void PatternedBackgroundsUseBothColours(BackgroundKind kind)
    {
        var rgb = ToyRenderer.RenderRgb(new ToyScene(new ToyBackground(kind, BackgroundColour.White, BackgroundColour.Black), []));
        // A gradient samples pixel centres: the top row is 0.5 / 64 of the way to black, the bottom row 63.5 / 64.
        var top = kind == BackgroundKind.Gradient ? ((byte)248, (byte)248, (byte)248) : ((byte)250, (byte)250, (byte)250);
        Assert.Equal(top, PixelAt(rgb, 0, 0));
        var far = kind == BackgroundKind.Gradient ? PixelAt(rgb, 0, 63) : PixelAt(rgb, 8, 0);
        Assert.Equal(kind == BackgroundKind.Gradient ? ((byte)27, (byte)27, (byte)27) : ((byte)25, (byte)25, (byte)25), far);
    }

    [Fact]
    public void RendersAreDeterministicAndInRange()
    {
        var scene = ToyPrompts.HeldOut(ToyCriteria.ImageQuality, 1)[0].Scene;
        var a = ToyRenderer.Render(scene);
        var b = ToyRenderer.Render(scene);
        Assert.Equal(a.Pixels, b.Pixels);
        Assert.All(a.Pixels, v => Assert.InRange(v, -1f, 1f));
    }

    [Fact]
    public void ImagesRoundTripThroughTensorsAndPng()
    {
        var images = ToyPrompts.Generate(ToyCriteria.All, 5, seed: 3, ToySplit.Train).Select(p => ToyRenderer.Render(p.Scene)).ToArray();
        using var batch = ToyImage.Stack(images);
        Assert.Equal([5L, 3, 64, 64], batch.shape);
        Assert.Equal(images[2].Pixels, ToyImage.Unstack(batch)[2].Pixels);
        using var one = images[0].ToTensor();
        using var asDouble = one.to(torch.float64);
        Assert.Equal(images[0].Pixels, ToyImage.FromTensor(asDouble).Pixels);

        var dir = TestPaths.NewTempDirectory("toy-png");
        var path = Path.Combine(dir, "a.png");
        images[1].SavePng(path);
        Assert.Equal(images[1].ToRgb(), ToyImage.LoadPng(path).ToRgb());
        ToyImage.SaveSheet(images, Path.Combine(dir, "sheet.png"), columns: 3);
        Assert.True(File.Exists(Path.Combine(dir, "sheet.png")));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void RejectsWrongShapes()
    {
        using var wrong = torch.zeros(3, 32, 32);
        Assert.Contains("[3, 64, 64]", Assert.Throws<ArgumentException>(() => ToyImage.FromTensor(wrong)).Message);
    }
}
