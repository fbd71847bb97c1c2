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
        var (teacher, student) = Load(teacherPng, studentPng);
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
        using var heat = new SKBitmap(teacher.Width, teacher.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0, i = 0; y < teacher.Height; y++)
            for (var x = 0; x < teacher.Width; x++, i += 3)
            {
                var distance = Math.Abs(teacher.Rgb[i] - student.Rgb[i]) + Math.Abs(teacher.Rgb[i + 1] - student.Rgb[i + 1]) + Math.Abs(teacher.Rgb[i + 2] - student.Rgb[i + 2]);
                heat.SetPixel(x, y, Heat(Math.Min(1.0, distance / 3.0 / 64)));
            }
        using var data = heat.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Black (0) -> red (1/3) -> yellow (2/3) -> white (1).</summary>
    static SKColor Heat(double v)
    {
        static byte Ramp(double t) => (byte)Math.Round(255 * Math.Clamp(t, 0, 1));
        return new SKColor(Ramp(3 * v), Ramp(3 * v - 1), Ramp(3 * v - 2));
    }

    /// <summary>Both PNGs' 8-bit colours; refused, naming the student's file, when their sizes differ.</summary>
    static (RgbImage Teacher, RgbImage Student) Load(string teacherPng, string studentPng)
    {
        var teacher = RgbImage.FromPng(teacherPng);
        var student = RgbImage.FromPng(studentPng);
        if ((teacher.Width, teacher.Height) != (student.Width, student.Height))
            throw new InvalidDataException($"{studentPng} is {student.Width}x{student.Height} but the teacher's image is {teacher.Width}x{teacher.Height}");
        return (teacher, student);
    }
}
