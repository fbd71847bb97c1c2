using SkiaSharp;
using Studio.Core.Data;
using Studio.Core.Runs;

namespace Studio.Core.Tests;

/// <summary>Compare's samples as one figure: the teacher's column, then each run's student at a shared step or its latest.</summary>
public class SamplesComparisonTests
{
    static readonly SKColor Red = new(255, 0, 0), Blue = new(0, 0, 255), Green = new(0, 255, 0), Missing = new(0xEE, 0xEE, 0xEE);

    static string Png(string folder, string name, SKColor colour)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(64, 64, SKColorType.Rgba8888, SKAlphaType.Opaque));
        bitmap.Erase(colour);
        var path = Path.Combine(folder, name);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    /// <summary>The left edge of each run of at least 200 pixels of <paramref name="colour"/> along row <paramref name="y"/>.</summary>
    static List<int> Lefts(SKBitmap figure, int y, SKColor colour)
    {
        var lefts = new List<int>();
        for (int x = 0; x < figure.Width; x++)
            if (figure.GetPixel(x, y) == colour && (x == 0 || figure.GetPixel(x - 1, y) != colour) && x + 200 < figure.Width && figure.GetPixel(x + 200, y) == colour) lefts.Add(x);
        return lefts;
    }

    [Fact]
    public void TheFigureHasTheTeachersColumnThenEachRunsAtTheStepAskedOrItsLatestAndRefusesAStepNotAllDrew()
    {
        var folder = Directory.CreateTempSubdirectory("samples-figure-").FullName;
        try
        {
            long id = 0;
            SampleEntry Sample(int run, long step, SKColor colour, bool teacher = false) =>
                new() { Id = ++id, RunId = run, Step = step, Prompt = "a red ball", IsTeacher = teacher, PngPath = Png(folder, $"{run}-{step}-{teacher}.png", colour) };
            // Run 1 drew its student blue at step 10 and green at 20; run 2 only at 10 (blue); the teacher is red.
            var samples = new Dictionary<int, IReadOnlyList<SampleEntry>>
            {
                [1] = [Sample(1, 0, Red, teacher: true), Sample(1, 10, Blue), Sample(1, 20, Green)],
                [2] = [Sample(2, 10, Blue)],
            };
            var grid = new SamplesComparison([1, 2], samples);
            Assert.Equal([10L], grid.CommonSteps);

            using (var latest = SKBitmap.Decode(grid.FigurePng(r => $"run {r}", null, _ => true)))
            {
                var y = latest.Height / 2; // through the one row of images
                var teacher = Lefts(latest, y, Red).Single();
                // Latest: run 1 at step 20 (green), run 2 at step 10 (blue), in that order right of the teacher.
                var (green, blue) = (Lefts(latest, y, Green).Single(), Lefts(latest, y, Blue).Single());
                Assert.True(teacher < green && green < blue, $"teacher {teacher}, run 1 {green}, run 2 {blue}");
            }
            using (var atTen = SKBitmap.Decode(grid.FigurePng(r => $"run {r}", 10, _ => true)))
            {
                var y = atTen.Height / 2;
                Assert.Equal(2, Lefts(atTen, y, Blue).Count); // both runs at step 10
                Assert.Empty(Lefts(atTen, y, Green));
            }
            Assert.Equal("query 'step': 20 is not a step every run drew samples at (10)",
                Assert.Throws<RunActionException>(() => grid.FigurePng(r => $"run {r}", 20, _ => true)).Message);
            Assert.StartsWith("these runs have no samples yet",
                Assert.Throws<RunActionException>(() => new SamplesComparison([3], new Dictionary<int, IReadOnlyList<SampleEntry>>()).FigurePng(r => "", null, _ => true)).Message);

            // A run without a sample of the prompt gets a grey cell.
            var partial = new SamplesComparison([1, 2], new Dictionary<int, IReadOnlyList<SampleEntry>> { [1] = samples[1], [2] = [] });
            using var withGap = SKBitmap.Decode(partial.FigurePng(r => $"run {r}", null, _ => true));
            var left = Lefts(withGap, withGap.Height / 2, Red).Single();
            var top = Enumerable.Range(0, withGap.Height).First(y => withGap.GetPixel(left, y) == Red);
            Assert.Single(Lefts(withGap, top + 5, Missing)); // above the cell's centred text
        }
        finally { Directory.Delete(folder, true); }
    }
}
