using SkiaSharp;
using Studio.Ml.Diffusion;

namespace Studio.Core.Generations;

/// <summary>How a student's image differs from the teacher's rendering of the same prompt and noise.</summary>
public static class ImageDifference
{
    /// <summary>
    /// How a student's PNG differs from the teacher's: the mean |student - teacher| over pixels and RGB channels
    /// (0-255) and the SSIM (<see cref="RgbImage"/>'s, the evaluations' measures on the same 8-bit colours).
    /// </summary>
    public static (double MeanDifference, double Similarity) Compare(string teacherPng, string studentPng)
    {
        var teacher = RgbImage.FromPng(teacherPng);
        var student = RgbImage.FromPng(studentPng);
        if ((teacher.Width, teacher.Height) != (student.Width, student.Height))
            throw new InvalidDataException($"{studentPng} is {student.Width}x{student.Height} but the teacher's image is {teacher.Width}x{teacher.Height}");
        // SSIM needs an 11x11 window: an image smaller than that (none the studio draws) has only its |Δ|.
        var similarity = teacher.Width > 10 && teacher.Height > 10 ? student.StructuralSimilarity(teacher) : double.NaN;
        return (student.MeanDifference(teacher), similarity);
    }

    /// <summary>
    /// A heat image of |student - teacher| per pixel (mean over RGB): black where they agree, through red and yellow
    /// to white at 64 or more (a quarter of the range), so small differences stay visible.
    /// </summary>
    public static byte[] HeatmapPng(string teacherPng, string studentPng)
    {
        var (teacher, student) = Load(teacherPng, studentPng);
        using (teacher) using (student)
        using (var heat = new SKBitmap(teacher.Width, teacher.Height, SKColorType.Rgba8888, SKAlphaType.Opaque))
        {
            for (var y = 0; y < teacher.Height; y++)
            for (var x = 0; x < teacher.Width; x++)
                heat.SetPixel(x, y, Heat(Math.Min(1.0, Distance(teacher.GetPixel(x, y), student.GetPixel(x, y)) / 3.0 / 64)));
            using var data = heat.Encode(SKEncodedImageFormat.Png, 100);
            return data.ToArray();
        }
    }

    static int Distance(SKColor a, SKColor b) => Math.Abs(a.Red - b.Red) + Math.Abs(a.Green - b.Green) + Math.Abs(a.Blue - b.Blue);

    /// <summary>Black (0) -> red (1/3) -> yellow (2/3) -> white (1).</summary>
    static SKColor Heat(double v)
    {
        static byte Ramp(double t) => (byte)Math.Round(255 * Math.Clamp(t, 0, 1));
        return new SKColor(Ramp(3 * v), Ramp(3 * v - 1), Ramp(3 * v - 2));
    }

    static (SKBitmap Teacher, SKBitmap Student) Load(string teacherPng, string studentPng)
    {
        var teacher = SKBitmap.Decode(teacherPng) ?? throw new InvalidDataException($"{teacherPng} is not a readable image");
        var student = SKBitmap.Decode(studentPng);
        if (student is null) { teacher.Dispose(); throw new InvalidDataException($"{studentPng} is not a readable image"); }
        if (teacher.Width != student.Width || teacher.Height != student.Height)
        {
            var fault = $"{studentPng} is {student.Width}x{student.Height} but the teacher's image is {teacher.Width}x{teacher.Height}";
            teacher.Dispose();
            student.Dispose();
            throw new InvalidDataException(fault);
        }
        return (teacher, student);
    }
}
