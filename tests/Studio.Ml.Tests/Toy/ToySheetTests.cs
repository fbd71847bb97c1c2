using SkiaSharp;
using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Toy;

/// <summary>Preview sheets with captions: the tiles are the images, each caption band has ink, long captions wrap.</summary>
public class ToySheetTests
{
    const string Long = "a small red circle in the top left cell and a large blue star in the bottom right cell " +
                        "on a gradient from yellow to green, with more words than one line of a tile can hold\nteacher + step-00008000";

    [Fact]
    public void ACaptionedSheetKeepsEveryTileAndInksEveryCaptionBand()
    {
        var images = ToyPrompts.Generate(ToyCriteria.All, 5, seed: 7, ToySplit.Train).Select(p => ToyRenderer.Render(p.Scene)).ToArray();
        string[] captions = [Long, "", "red", "MUD", "x\ny"];
        var dir = TestPaths.NewTempDirectory("toy-sheet");
        try
        {
            var path = Path.Combine(dir, "sheet.png");
            ToyImage.SaveSheet(images, path, columns: 3, scale: 4, captions: captions);
            Assert.Single(Directory.GetFiles(dir));   // written atomically: no temporary file left
            using var sheet = SKBitmap.Decode(path);

            // 3 columns of 64 x 4 = 256 px tiles with a 2 px gap; 2 rows, each a tile and a caption band.
            Assert.Equal(3 * 258, sheet.Width);
            Assert.Equal(0, sheet.Height % 2);
            int cell = sheet.Height / 2, band = cell - 258;
            // The long caption wraps over at least 4 lines of 12 px text.
            Assert.True(band >= 4 * 12, $"caption band {band} px");

            for (int k = 0; k < images.Length; k++)
            {
                int left = k % 3 * 258, top = k / 3 * cell;
                var rgb = images[k].ToRgb();
                for (int y = 0; y < 256; y++)
                    for (int x = 0; x < 256; x++)
                    {
                        var c = sheet.GetPixel(left + x, top + y);
                        int i = (y / 4 * 64 + x / 4) * 3;
                        Assert.True(c.Red == rgb[i] && c.Green == rgb[i + 1] && c.Blue == rgb[i + 2], $"tile {k} differs at ({x}, {y})");
                    }
                int ink = Ink(sheet, left, top + 258, 258, band);
                if (captions[k].Length == 0) Assert.Equal(0, ink);   // nothing drawn, nothing spilled from the long caption beside it
                else Assert.True(ink > 10, $"caption {k} has {ink} inked pixels");
            }
            // The long caption goes on below its fourth 12 px line; the one-word captions do not.
            Assert.True(Ink(sheet, 0, 258 + 4 * 12, 258, band - 4 * 12) > 0);
            Assert.Equal(0, Ink(sheet, 2 * 258, 258 + 2 * 12, 258, band - 2 * 12));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void WithoutCaptionsTheSheetIsTilesOnly()
    {
        var images = ToyPrompts.Generate(ToyCriteria.All, 4, seed: 1, ToySplit.Train).Select(p => ToyRenderer.Render(p.Scene)).ToArray();
        var dir = TestPaths.NewTempDirectory("toy-sheet");
        try
        {
            var path = Path.Combine(dir, "sheet.png");
            ToyImage.SaveSheet(images, path, columns: 3, scale: 2);
            using var sheet = SKBitmap.Decode(path);
            Assert.Equal((3 * 130, 2 * 130), (sheet.Width, sheet.Height));
            Assert.Contains("4 captions, got 1", Assert.Throws<ArgumentException>(() => ToyImage.SaveSheet(images, path, captions: ["one"])).Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void WrappedLinesFitTheWidthAndKeepEveryWord()
    {
        using var typeface = ToyCaptions.Typeface();
        using var font = new SKFont(typeface, ToyCaptions.TextSize);
        var lines = ToyCaptions.Wrap(Long, font, 256);
        Assert.All(lines, l => Assert.True(font.MeasureText(l) <= 256, $"'{l}' is {font.MeasureText(l)} px wide"));
        Assert.Equal(Long.Replace("\n", " ").Split(' '), lines.SelectMany(l => l.Split(' ')));
        Assert.Equal("teacher + step-00008000", lines[^1]);
        // A word wider than the line is cut between characters.
        var cut = ToyCaptions.Wrap(new string('W', 60), font, 100);
        Assert.True(cut.Count > 1);
        Assert.Equal(new string('W', 60), string.Concat(cut));
    }

    static int Ink(SKBitmap sheet, int left, int top, int width, int height)
    {
        int ink = 0;
        for (int y = top; y < Math.Min(top + height, sheet.Height); y++)
            for (int x = left; x < Math.Min(left + width, sheet.Width); x++)
                if (sheet.GetPixel(x, y) != SKColors.White) ink++;
        return ink;
    }
}
