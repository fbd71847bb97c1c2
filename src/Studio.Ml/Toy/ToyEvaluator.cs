namespace Studio.Ml.Toy;

/// <summary>How one image did against its prompt's scene: a score in [0, 1] and what was seen.</summary>
public sealed record ToyItemScore(string Category, double Score, string Detail);

/// <summary>
/// A prompt category's mean score over its images, with its 95% interval over prompts (<see cref="Bootstrap"/>), and with
/// a student in the T5 slot the mean |Δ| and SSIM of its images to the teacher's (<see cref="ToyEvaluationResult.TeacherDifference"/>,
/// <see cref="ToyEvaluationResult.TeacherSimilarity"/>); with a CLIP model, its images' mean CLIP score (<see cref="ToyEvaluationResult.ClipScore"/>).
/// </summary>
public sealed record ToyCategoryScore(string Category, int Count, double? Score, ScoreInterval? Interval = null, double? TeacherDifference = null,
    ScoreInterval? TeacherDifferenceInterval = null, double? TeacherSimilarity = null, ScoreInterval? TeacherSimilarityInterval = null,
    double? ClipScore = null, ScoreInterval? ClipScoreInterval = null);

/// <summary>
/// 95% intervals over prompts (<see cref="Bootstrap"/>) of a report's headline scores; each null where its score is
/// (<see cref="TeacherDifference"/>: a student's mean |Δ| to the teacher's images, <see cref="ToyEvaluationResult"/>).
/// </summary>
public sealed record ToyIntervals(ScoreInterval? ImageQualityFrechet = null, ScoreInterval? FrechetAll = null, ScoreInterval? Semantics = null, ScoreInterval? Text = null,
    ScoreInterval? TeacherDifference = null, ScoreInterval? TeacherSimilarity = null, ScoreInterval? ClipScore = null);

/// <summary>
/// Scores of a set of images on the three criteria. ImageQualityFrechet is the Fréchet distance over
/// <see cref="ToyImageFeatures"/> between the image-quality prompts' images and clean renders of the same scenes
/// (lower is better; null with fewer than 2 such prompts); FrechetAll the same over every image. Semantics is the mean
/// score over all semantics/* prompts, Text the mean character accuracy; each null when the set has none. Intervals:
/// each score's 95% interval over prompts; the Fréchet distances are recomputed on every resample of the images.
/// </summary>
public sealed record ToyReport(
    double? ImageQualityFrechet,
    double? FrechetAll,
    double? Semantics,
    double? Text,
    IReadOnlyList<ToyCategoryScore> Categories,
    IReadOnlyList<ToyItemScore> Items,
    ToyIntervals Intervals);

/// <summary>
/// Scores generated images against their prompts' scenes. Per category:
/// <list type="bullet">
/// <item>image-quality and semantics/colour: matched / max(expected, found), where an expected object is matched by a
/// distinct found object of the same colour and shape (a missing, mis-coloured or extra object each cost);</item>
/// <item>semantics/spatial: 0.25 for each of the two objects found (colour and shape) and 0.5 more when both are found
/// and their centres are ordered as in the scene, by at least 2 px, along each axis on which the scene's cells differ;</item>
/// <item>semantics/numeracy: 1 when the number of found objects of the scene's colour and shape is exactly the scene's
/// count, else 0 (objects of other colours or shapes do not matter);</item>
/// <item>text: character accuracy 1 - Levenshtein(read, target) / max(|read|, |target|), 0 when nothing is read.</item>
/// </list>
/// </summary>
public static class ToyEvaluator
{
    const float RelationMargin = 2f;

    public static ToyItemScore Score(string category, ToyScene scene, ToyImage image)
    {
        var ink = ToyInk.Classify(image);
        return category switch
        {
            ToyCriteria.ImageQuality or ToyCriteria.SemanticsColour => Binding(category, scene, ToyObjectFinder.Find(ink)),
            ToyCriteria.SemanticsSpatial => Spatial(scene, ToyObjectFinder.Find(ink)),
            ToyCriteria.SemanticsNumeracy => Numeracy(scene, ToyObjectFinder.Find(ink)),
            ToyCriteria.Text => Text(scene, ToyTextReader.Read(ink)),
            _ => throw new ArgumentException($"unknown category '{category}': use one of {string.Join(", ", ToyCriteria.Categories)}", nameof(category)),
        };
    }

    static ToyItemScore Binding(string category, ToyScene scene, IReadOnlyList<DetectedObject> found)
    {
        var unused = found.ToList();
        int matched = 0;
        foreach (var expected in scene.Objects)
        {
            int k = unused.FindIndex(d => Same(d, expected));
            if (k < 0) continue;
            matched++;
            unused.RemoveAt(k);
        }
        int denominator = Math.Max(scene.Objects.Count, found.Count);
        double score = denominator == 0 ? 1 : matched / (double)denominator;
        return new(category, score, $"matched {matched} of {scene.Objects.Count}, found {Describe(found)}");
    }

    static ToyItemScore Spatial(ToyScene scene, IReadOnlyList<DetectedObject> found)
    {
        if (scene.Objects.Count != 2) throw new ArgumentException($"a spatial scene has 2 objects, this one has {scene.Objects.Count}", nameof(scene));
        var (a, b) = (scene.Objects[0], scene.Objects[1]);
        var seenA = Largest(found, a);
        var seenB = Largest(found.Where(d => d != seenA), b);
        double score = (seenA is null ? 0 : 0.25) + (seenB is null ? 0 : 0.25);
        bool ordered = seenA is not null && seenB is not null
            && Ordered(a.Col, b.Col, seenA.X, seenB.X) && Ordered(a.Row, b.Row, seenA.Y, seenB.Y);
        if (ordered) score += 0.5;
        return new(ToyCriteria.SemanticsSpatial, score, $"first {(seenA is null ? "missing" : "found")}, second {(seenB is null ? "missing" : "found")}, relation {(ordered ? "holds" : "fails")}; found {Describe(found)}");
    }

    /// <summary>Whether seen centres keep the scene's order on one axis (no constraint when the cells agree on it).</summary>
    static bool Ordered(int expectedA, int expectedB, float seenA, float seenB) =>
        expectedA == expectedB || (expectedA < expectedB ? seenB - seenA >= RelationMargin : seenA - seenB >= RelationMargin);

    static ToyItemScore Numeracy(ToyScene scene, IReadOnlyList<DetectedObject> found)
    {
        var target = scene.Objects[0];
        if (scene.Objects.Any(o => o.Colour != target.Colour || o.Shape != target.Shape))
            throw new ArgumentException("a numeracy scene has objects of one colour and shape", nameof(scene));
        int count = found.Count(d => Same(d, target));
        return new(ToyCriteria.SemanticsNumeracy, count == scene.Objects.Count ? 1 : 0, $"counted {count} of {scene.Objects.Count}; found {Describe(found)}");
    }

    static ToyItemScore Text(ToyScene scene, string read)
    {
        var target = scene.Word?.Text ?? throw new ArgumentException("a text scene has a word", nameof(scene));
        return new(ToyCriteria.Text, CharacterAccuracy(read, target), $"read '{read}'");
    }

    /// <summary>1 - Levenshtein(read, target) / max(|read|, |target|): 1 for an exact read, 0 for nothing read.</summary>
    public static double CharacterAccuracy(string read, string target)
    {
        int longest = Math.Max(read.Length, target.Length);
        return longest == 0 ? 1 : 1 - Levenshtein(read, target) / (double)longest;
    }

    public static int Levenshtein(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    static bool Same(DetectedObject d, ToyObject o) => d.Colour == o.Colour && d.Shape == o.Shape;

    static DetectedObject? Largest(IEnumerable<DetectedObject> found, ToyObject o) =>
        found.Where(d => Same(d, o)).OrderByDescending(d => d.Area).FirstOrDefault();

    static string Describe(IReadOnlyList<DetectedObject> found) =>
        found.Count == 0 ? "nothing" : string.Join(", ", found.Select(d => $"{ToyPalette.Word(d.Colour)} {d.Shape.ToString().ToLowerInvariant()} ({d.Col},{d.Row})"));

    /// <summary>
    /// Scores every image against its prompt, and the Fréchet distances against clean renders of the same scenes, each
    /// with its 95% interval over prompts. <paramref name="promptOf"/> says which prompt each image is of (the images of
    /// one prompt with several seeds are resampled together); null: every image is of its own prompt.
    /// </summary>
    public static ToyReport Evaluate(IReadOnlyList<ToyPrompt> prompts, IReadOnlyList<ToyImage> images, IReadOnlyList<int>? promptOf = null)
    {
        if (prompts.Count != images.Count) throw new ArgumentException($"{prompts.Count} prompts but {images.Count} images");
        if (promptOf is not null && promptOf.Count != images.Count) throw new ArgumentException($"{images.Count} images but {promptOf.Count} prompt indices");
        promptOf ??= Enumerable.Range(0, images.Count).ToArray();
        var items = new ToyItemScore[prompts.Count];
        var generated = new double[prompts.Count][];
        var rendered = new double[prompts.Count][];
        for (int i = 0; i < prompts.Count; i++)
        {
            items[i] = Score(prompts[i].Category, prompts[i].Scene, images[i]);
            generated[i] = ToyImageFeatures.Extract(images[i]);
            rendered[i] = ToyImageFeatures.Extract(ToyRenderer.Render(prompts[i].Scene));
        }

        // Each score over the chosen images, with its interval over their prompts; null when too few images are chosen.
        (double?, ScoreInterval?) Mean(Func<int, bool> include)
        {
            var chosen = Enumerable.Range(0, prompts.Count).Where(include).ToArray();
            if (chosen.Length == 0) return (null, null);
            var scores = chosen.Select(i => items[i].Score).ToArray();
            return (scores.Average(), Bootstrap.MeanInterval(scores, chosen.Select(i => promptOf[i]).ToArray()));
        }

        (double?, ScoreInterval?) Frechet(Func<int, bool> include)
        {
            var chosen = Enumerable.Range(0, prompts.Count).Where(include).ToArray();
            if (chosen.Length < 2) return (null, null);
            double[][] first = chosen.Select(i => generated[i]).ToArray(), second = chosen.Select(i => rendered[i]).ToArray();
            var resampled = FrechetDistance.ComputePaired(first, second, Bootstrap.Draws(chosen.Select(i => promptOf[i]).ToArray()));
            var distance = FrechetDistance.Compute(first, second);
            return (distance, Bootstrap.BiasShiftedPercentiles(distance, resampled));
        }

        var categories = ToyCriteria.Categories
            .Select(c => (Category: c, Scored: Mean(i => items[i].Category == c), Count: items.Count(s => s.Category == c)))
            .Where(c => c.Count > 0)
            .Select(c => new ToyCategoryScore(c.Category, c.Count, c.Scored.Item1!.Value, c.Scored.Item2))
            .ToArray();
        var (imageQuality, imageQualityInterval) = Frechet(i => prompts[i].Category == ToyCriteria.ImageQuality);
        var (all, allInterval) = Frechet(_ => true);
        var (semantics, semanticsInterval) = Mean(i => ToyCriteria.CriterionOf(items[i].Category) == ToyCriteria.Semantics);
        var (text, textInterval) = Mean(i => items[i].Category == ToyCriteria.Text);
        return new ToyReport(imageQuality, all, semantics, text, categories, items,
            new ToyIntervals(imageQualityInterval, allInterval, semanticsInterval, textInterval));
    }
}
