using SkiaSharp;
using Studio.Core.Generations;

namespace Studio.Core.Tests;

/// <summary>A generation's student image against the teacher's, as two PNGs: mean |Δ| and SSIM.</summary>
public class ImageDifferenceTests
{
    /// <summary>A 32x24 PNG whose channel k of pixel (row r, column c) is value(c, r, k) % 256.</summary>
    static string Png(string folder, string name, Func<int, int, int, int> value, int width = 32, int height = 24)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (var r = 0; r < height; r++)
            for (var c = 0; c < width; c++)
                bitmap.SetPixel(c, r, new SKColor((byte)(value(c, r, 0) % 256), (byte)(value(c, r, 1) % 256), (byte)(value(c, r, 2) % 256)));
        var path = Path.Combine(folder, name);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    static int Ramp(int c, int r, int k) => c * 7 + r * 13 + k * 29;
    static int Parabola(int c, int r, int k) => c * c + 3 * r + k * 5;

    [Fact]
    public void TwoPngsAreComparedByTheirMeanAbsoluteDifferenceAndScikitImagesSsim()
    {
        var folder = Directory.CreateTempSubdirectory("studio-image-difference-").FullName;
        var teacher = Png(folder, "teacher.png", Ramp);
        var student = Png(folder, "student.png", Parabola);
        double sum = 0;
        for (var r = 0; r < 24; r++)
            for (var c = 0; c < 32; c++)
                for (var k = 0; k < 3; k++) sum += Math.Abs(Ramp(c, r, k) % 256 - Parabola(c, r, k) % 256);

        var (difference, similarity) = ImageDifference.Compare(teacher, student);
        Assert.Equal(sum / (32 * 24 * 3), difference, 12);
        // scikit-image 0.19.3's structural_similarity of these two images (see Studio.Ml.Tests' RgbImageTests).
        Assert.Equal(0.08121525014328351, similarity, 12);
        Assert.Equal((0.0, 1.0), ImageDifference.Compare(teacher, teacher));
    }

    [Fact]
    public void ImagesOfOtherSizesAreRefusedNamingTheStudentsFile()
    {
        var folder = Directory.CreateTempSubdirectory("studio-image-difference-").FullName;
        var teacher = Png(folder, "teacher.png", Ramp);
        var wide = Png(folder, "wide.png", Ramp, width: 48);
        var error = Assert.Throws<InvalidDataException>(() => ImageDifference.Compare(teacher, wide));
        Assert.Equal($"{wide} is 48x24 but the teacher's image is 32x24", error.Message);
        File.WriteAllText(Path.Combine(folder, "broken.png"), "not a png");
        Assert.Contains("broken.png is not a readable image", Assert.Throws<InvalidDataException>(() => ImageDifference.Compare(teacher, Path.Combine(folder, "broken.png"))).Message);
    }
}
