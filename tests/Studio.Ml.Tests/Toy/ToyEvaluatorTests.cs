using Studio.Ml.Toy;

namespace Studio.Ml.Tests.Toy;

/// <summary>
/// The evaluator against ground truth: renders of known scenes. Clean renders must score near 100%, renders of
/// spoilt scenes or spoilt images low, by thresholds set from what the scene says, not from the evaluator's output.
/// </summary>
public class ToyEvaluatorTests(ITestOutputHelper output)
{
    /// <summary>The standard held-out prompts, 50 per category.</summary>
    static readonly IReadOnlyList<ToyPrompt> HeldOut = ToyPrompts.HeldOut(ToyCriteria.All, 250);

    static ToyReport EvaluateCorrupted(ToyCorruption corruption) =>
        ToyEvaluator.Evaluate(HeldOut, HeldOut.Select((p, i) => ToyCorruptions.Apply(corruption, p.Scene, i)).ToArray());

    void Log(string name, ToyReport report) => output.WriteLine($"{name}: " +
        string.Join("  ", report.Categories.Select(c => $"{c.Category} {c.Score:0.000}")) + $"  FD(all) {report.FrechetAll:0.0000}");

    static IEnumerable<ToyBackground> EveryBackground() =>
        ToyPalette.BackgroundColours.Select(c => new ToyBackground(BackgroundKind.Plain, c)).Concat(
            from kind in new[] { BackgroundKind.Gradient, BackgroundKind.Stripes, BackgroundKind.Checks }
            from first in ToyPalette.BackgroundColours
            from second in ToyPalette.BackgroundColours
            where first != second
            select new ToyBackground(kind, first, second));

    [Fact]
    public void BackgroundsAreNeverInkEvenBlurred()
    {
        foreach (var background in EveryBackground())
        {
            var crisp = ToyRenderer.Render(new ToyScene(background, []));
            Assert.All(ToyInk.Classify(crisp), c => Assert.Equal(ToyInk.None, c));
            Assert.All(ToyInk.Classify(ToyCorruptions.BoxBlur(crisp, 1, 2)), c => Assert.Equal(ToyInk.None, c));
        }
    }

    [Fact]
    public void BackgroundPixelsStayFarFromObjectColours()
    {
        // The margin the ink rule relies on: every rendered background pixel is at least 90 from every object colour.
        double nearest = double.MaxValue;
        foreach (var background in EveryBackground())
        {
            var rgb = ToyRenderer.RenderRgb(new ToyScene(background, []));
            for (int i = 0; i < rgb.Length; i += 3)
                foreach (var colour in ToyPalette.ObjectColours.Select(ToyPalette.Of))
                    nearest = Math.Min(nearest, Math.Sqrt(colour.SquaredDistanceTo(rgb[i], rgb[i + 1], rgb[i + 2])));
        }
        Assert.True(nearest >= 90, $"a background pixel comes within {nearest:0.0} of an object colour");
    }

    [Fact]
    public void FindsEveryShapeColourSizeAndCell()
    {
        var backgrounds = EveryBackground().ToArray();
        int k = 0;
        foreach (var shape in Enum.GetValues<ToyShape>())
            foreach (var colour in ToyPalette.ObjectColours)
                foreach (var size in Enum.GetValues<ToySize>())
                    for (int cell = 0; cell < 9; cell++)
                    {
                        var o = new ToyObject(shape, colour, size, cell % 3, cell / 3);
                        var found = ToyObjectFinder.Find(ToyRenderer.Render(new ToyScene(backgrounds[k++ * 7 % backgrounds.Length], [o])));
                        var d = Assert.Single(found);
                        Assert.Equal(o, new ToyObject(d.Shape, d.Colour, d.Size, d.Col, d.Row));
                    }
    }

    [Fact]
    public void FindsExactlyTheObjectsOfHeldOutScenes()
    {
        foreach (var prompt in HeldOut.Where(p => p.Scene.Objects.Count > 0))
        {
            var found = ToyObjectFinder.Find(ToyRenderer.Render(prompt.Scene))
                .Select(d => new ToyObject(d.Shape, d.Colour, d.Size, d.Col, d.Row)).OrderBy(o => (o.Row, o.Col));
            Assert.Equal(prompt.Scene.Objects.OrderBy(o => (o.Row, o.Col)), found);
        }
    }

    [Fact]
    public void ReadsEveryWordInAnyColourRowPlateAndBackground()
    {
        var random = new Random(4);
        var backgrounds = EveryBackground().ToArray();
        foreach (var word in ToyPrompts.Words)
        {
            var background = backgrounds[random.Next(backgrounds.Length)];
            var plates = ToyPalette.BackgroundColours.Where(c => c != background.Colour && c != background.Second).ToArray();
            BackgroundColour? plate = random.Next(2) == 0 ? plates[random.Next(plates.Length)] : null;
            var scene = new ToyScene(background, [], new ToyWord(word, ToyPalette.ObjectColours[random.Next(8)], random.Next(3), plate));
            Assert.Equal(word, ToyTextReader.Read(ToyRenderer.Render(scene)));
        }
    }

    [Fact]
    public void ReadsArbitraryLetterStrings()
    {
        var random = new Random(5);
        for (int i = 0; i < 300; i++)
        {
            var text = new string(Enumerable.Range(0, random.Next(2, 6)).Select(_ => (char)('A' + random.Next(26))).ToArray());
            var scene = new ToyScene(new ToyBackground(BackgroundKind.Plain, ToyPalette.BackgroundColours[i % 7]), [],
                new ToyWord(text, ToyPalette.ObjectColours[i % 8], i % 3, i % 2 == 0 ? ToyPalette.BackgroundColours[(i + 3) % 7] : null));
            Assert.Equal(text, ToyTextReader.Read(ToyRenderer.Render(scene)));
        }
    }

    [Fact]
    public void ReadsNothingWhereThereIsNoWord()
    {
        Assert.Equal("", ToyTextReader.Read(ToyRenderer.Render(new ToyScene(new ToyBackground(BackgroundKind.Checks, BackgroundColour.White, BackgroundColour.Navy), []))));
    }

    [Fact]
    public void CleanHeldOutRendersScoreNearlyPerfect()
    {
        var report = EvaluateCorrupted(ToyCorruption.None);
        Log("clean", report);
        Assert.Equal(ToyCriteria.Categories, report.Categories.Select(c => c.Category));
        Assert.All(report.Categories, c => Assert.True(c.Score >= 0.95, $"{c.Category}: {c.Score:0.000}"));
        Assert.True(report.Semantics >= 0.95 && report.Text >= 0.95);
        Assert.InRange(report.ImageQualityFrechet!.Value, 0, 1e-9);
        Assert.InRange(report.FrechetAll!.Value, 0, 1e-9);
    }

    [Theory]
    [InlineData(ToyCorruption.SoftBlur)]
    [InlineData(ToyCorruption.LightNoise)]
    public void MildSofteningIsForgiven(ToyCorruption corruption)
    {
        var report = EvaluateCorrupted(corruption);
        Log(corruption.ToString(), report);
        Assert.All(report.Categories, c => Assert.True(c.Score >= 0.9, $"{c.Category}: {c.Score:0.000}"));
    }

    [Theory]
    [InlineData(ToyCorruption.Noise, 0.2)]
    [InlineData(ToyCorruption.Blur, 0.3)]
    public void HeavilyDegradedImagesScoreLowOnEveryCriterion(ToyCorruption corruption, double most)
    {
        var report = EvaluateCorrupted(corruption);
        Log(corruption.ToString(), report);
        Assert.All(report.Categories, c => Assert.True(c.Score <= most, $"{c.Category}: {c.Score:0.000}"));
    }

    [Fact]
    public void WrongColoursFailSemanticsButNotText()
    {
        var report = EvaluateCorrupted(ToyCorruption.WrongColours);
        Log("wrong colours", report);
        // Every object has another colour, so no expected object is present: 0 for binding, counting and relations.
        Assert.All(report.Categories.Where(c => c.Category != ToyCriteria.Text), c => Assert.True(c.Score <= 0.05, $"{c.Category}: {c.Score:0.000}"));
        // Text is scored by its letters only, as the paper's OCR metric.
        Assert.True(report.Text >= 0.95);
    }

    [Fact]
    public void MissingObjectsScoreWhatTheRemainingSceneDeserves()
    {
        var report = EvaluateCorrupted(ToyCorruption.MissingObjects);
        Log("missing objects", report);
        // From the scoring rules and the scenes: the single object gone (0); one of two bound objects left (1/2);
        // one of the two related objects found and no relation (1/4); the count one short (0); the word gone (0).
        var expected = new Dictionary<string, double>
        {
            [ToyCriteria.ImageQuality] = 0, [ToyCriteria.SemanticsColour] = 0.5, [ToyCriteria.SemanticsSpatial] = 0.25,
            [ToyCriteria.SemanticsNumeracy] = 0, [ToyCriteria.Text] = 0,
        };
        Assert.All(report.Categories, c => Assert.Equal(expected[c.Category], c.Score!.Value, 0.02));
    }

    [Fact]
    public void ShuffledLettersAreReadAsShuffled()
    {
        var textPrompts = HeldOut.Where(p => p.Category == ToyCriteria.Text).ToArray();
        double total = 0;
        for (int i = 0; i < textPrompts.Length; i++)
        {
            var shuffled = ToyCorruptions.Corrupt(ToyCorruption.ShuffledLetters, textPrompts[i].Scene, new Random(i));
            Assert.NotEqual(textPrompts[i].Scene.Word!.Text, shuffled.Word!.Text);
            Assert.Equal(shuffled.Word.Text, ToyTextReader.Read(ToyRenderer.Render(shuffled)));
            total += ToyEvaluator.Score(ToyCriteria.Text, textPrompts[i].Scene, ToyRenderer.Render(shuffled)).Score;
        }
        output.WriteLine($"shuffled letters: text {total / textPrompts.Length:0.000}");
        Assert.True(total / textPrompts.Length <= 0.5);
    }

    [Fact]
    public void FrechetDistanceSeparatesDegradedSetsFromASamplingBaseline()
    {
        var renders = HeldOut.Select(p => ToyRenderer.Render(p.Scene)).ToArray();
        var features = renders.Select(ToyImageFeatures.Extract).ToArray();
        // The noise floor: renders of a different set of held-out prompts, as far apart as two clean samples get.
        var other = ToyPrompts.Generate(ToyCriteria.All, HeldOut.Count, seed: 1, ToySplit.HeldOut)
            .Select(p => ToyImageFeatures.Extract(ToyRenderer.Render(p.Scene))).ToArray();
        double floor = FrechetDistance.Compute(features, other);
        double Distance(ToyCorruption c) => FrechetDistance.Compute(HeldOut.Select((p, i) => ToyImageFeatures.Extract(ToyCorruptions.Apply(c, p.Scene, i))).ToArray(), features);
        double noise = Distance(ToyCorruption.Noise), blur = Distance(ToyCorruption.Blur), missing = Distance(ToyCorruption.MissingObjects);
        output.WriteLine($"FD: same prompts 0, other prompts {floor:0.0000}, noise {noise:0.0000}, blur {blur:0.0000}, missing objects {missing:0.0000}");
        Assert.InRange(FrechetDistance.Compute(features, features), 0, 1e-9);
        Assert.True(noise > 20 * floor);
        Assert.True(blur > 3 * floor);
        Assert.True(missing > 1.5 * floor);
    }

    [Fact]
    public void FrechetDistanceMatchesTheClosedForm()
    {
        // 1-D: means 1 and 2, sample variances 2 and 2: (1 - 2)^2 + (sqrt 2 - sqrt 2)^2 = 1.
        Assert.Equal(1.0, FrechetDistance.Compute([[0.0], [2.0]], [[1.0], [3.0]]), 9);
        // Diagonal 2-D: |mu1 - mu2|^2 + sum (s1 - s2)^2 with standard deviations s. First set: means (0, 0),
        // variances (1, 4) via (+-1/sqrt2 ... ); built from symmetric points so covariance is diagonal.
        double[][] a = [[1, 2], [-1, -2], [1, -2], [-1, 2]];           // var (4/3, 16/3)
        double[][] b = [[3, 1], [1, 1], [3, 3], [1, 3]];               // mean (2, 2), var (4/3, 4/3)
        double expected = 4 + 4 + Math.Pow(Math.Sqrt(4.0 / 3) - Math.Sqrt(4.0 / 3), 2) + Math.Pow(Math.Sqrt(16.0 / 3) - Math.Sqrt(4.0 / 3), 2);
        Assert.Equal(expected, FrechetDistance.Compute(a, b), 9);
    }

    [Theory]
    [InlineData("CAT", "CAT", 1.0)]
    [InlineData("", "CAT", 0.0)]
    [InlineData("CUT", "CAT", 2.0 / 3)]
    [InlineData("CA", "CAT", 2.0 / 3)]
    [InlineData("CATS", "CAT", 3.0 / 4)]
    [InlineData("TAC", "CAT", 1.0 / 3)]
    [InlineData("XYZ", "CAT", 0.0)]
    public void CharacterAccuracyIsOneMinusNormalisedEditDistance(string read, string target, double expected) =>
        Assert.Equal(expected, ToyEvaluator.CharacterAccuracy(read, target), 9);

    [Fact]
    public void LevenshteinCountsEdits()
    {
        Assert.Equal(3, ToyEvaluator.Levenshtein("KITTEN", "SITTING"));
        Assert.Equal(5, ToyEvaluator.Levenshtein("", "HELLO"));
        Assert.Equal(0, ToyEvaluator.Levenshtein("SUN", "SUN"));
    }
}
