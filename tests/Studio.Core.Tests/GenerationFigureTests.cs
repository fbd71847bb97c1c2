using SkiaSharp;
using Studio.Core.Data;
using Studio.Core.Generations;

namespace Studio.Core.Tests;

public class GenerationFigureTests
{
    static readonly SKColor Red = new(255, 0, 0), Blue = new(0, 0, 255), Green = new(0, 255, 0), Missing = new(0xEE, 0xEE, 0xEE);

    /// <summary>A 64x64 PNG of one colour, with its top-left pixel <paramref name="corner"/> (to see square enlarged pixels).</summary>
    static string Png(string folder, string name, SKColor fill, SKColor corner)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(64, 64, SKColorType.Rgba8888, SKAlphaType.Opaque));
        bitmap.Erase(fill);
        bitmap.SetPixel(0, 0, corner);
        var path = Path.Combine(folder, name);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    /// <summary>The bounding box of the pixels exactly of <paramref name="colour"/> (a colour no caption is drawn in).</summary>
    static SKRectI Box(SKBitmap figure, SKColor colour)
    {
        int left = int.MaxValue, top = int.MaxValue, right = -1, bottom = -1;
        for (var y = 0; y < figure.Height; y++)
            for (var x = 0; x < figure.Width; x++)
                if (figure.GetPixel(x, y) == colour) (left, top, right, bottom) = (Math.Min(left, x), Math.Min(top, y), Math.Max(right, x), Math.Max(bottom, y));
        return right < 0 ? SKRectI.Empty : new SKRectI(left, top, right + 1, bottom + 1);
    }

    [Fact]
    public void RowsAreGenerationsColumnsEncodersTheTeacherFirstImagesEnlargedWithSquarePixelsAndMissingCellsGrey()
    {
        var folder = Directory.CreateTempSubdirectory("figure-").FullName;
        var outside = Directory.CreateTempSubdirectory("figure-outside-").FullName;
        try
        {
            // Row 1: the student's image is listed before the teacher's; row 2: the student failed, the teacher's file is outside the allowed folder.
            var first = new Generation { Id = 7, Prompt = "a red circle", Seed = 3, Steps = 8, Guidance = 3.5, Width = 64, Height = 64, Images =
            [
                new GenerationImage { Id = 1, Encoder = "run 2 · step 400", CheckpointId = 5, PngPath = Png(folder, "s.png", Blue, Green), DifferenceToTeacher = 12.5, State = GenerationState.Completed },
                new GenerationImage { Id = 2, Encoder = "teacher", PngPath = Png(folder, "t.png", Red, Green), State = GenerationState.Completed },
            ] };
            var second = new Generation { Id = 8, Prompt = "a sign that says 'CAT'", Seed = 3, Steps = 8, Guidance = 3.5, Width = 64, Height = 64, Images =
            [
                new GenerationImage { Id = 3, Encoder = "teacher", PngPath = Png(outside, "t2.png", Red, Red), State = GenerationState.Completed },
                new GenerationImage { Id = 4, Encoder = "run 2 · step 400", CheckpointId = 5, State = GenerationState.Failed, Error = "out of memory" },
            ] };

            var png = GenerationFigure.Png([first, second], path => path.StartsWith(folder));
            using var figure = SKBitmap.Decode(png);

            // Each 64-px image fills a 256-px cell, the teacher's (red) left of the student's (blue), both in the first row.
            var teacher = Box(figure, Red);
            var student = Box(figure, Blue);
            Assert.Equal((256, 256), (teacher.Width, teacher.Height));
            Assert.Equal((256, 256), (student.Width, student.Height));
            Assert.Equal(teacher.Top, student.Top);
            Assert.True(student.Left > teacher.Right);
            // Square pixels: the green top-left pixel is a 4x4 block in each.
            foreach (var (cell, fill) in new[] { (teacher, Red), (student, Blue) })
            {
                Assert.Equal(Green, figure.GetPixel(cell.Left, cell.Top));
                Assert.Equal(Green, figure.GetPixel(cell.Left + 3, cell.Top + 3));
                Assert.Equal(fill, figure.GetPixel(cell.Left + 4, cell.Top + 3));
                Assert.Equal(fill, figure.GetPixel(cell.Left + 3, cell.Top + 4));
            }
            // The second row has no image at all: a grey cell under each of the first row's, as tall.
            var top = Enumerable.Range(teacher.Bottom, figure.Height - teacher.Bottom).First(y => figure.GetPixel(teacher.Left, y) == Missing);
            foreach (var cell in new[] { teacher, student })
            {
                Assert.All(new[] { (0, 0), (255, 0), (0, 255), (255, 255) }, d => Assert.Equal(Missing, figure.GetPixel(cell.Left + d.Item1, top + d.Item2)));
                Assert.NotEqual(Missing, figure.GetPixel(cell.Left, top + 256));
            }
        }
        finally
        {
            Directory.Delete(folder, true);
            Directory.Delete(outside, true);
        }
    }

    [Fact]
    public void AFigureHoldsOneToSixtyFourGenerations()
    {
        Assert.Throws<ArgumentException>(() => GenerationFigure.Png([], _ => true));
        var many = Enumerable.Range(1, 65).Select(i => new Generation { Id = i, Prompt = "p" }).ToList();
        Assert.Contains("a figure holds 1 to 64 generations, not 65", Assert.Throws<ArgumentException>(() => GenerationFigure.Png(many, _ => true)).Message);
    }
}
