namespace Studio.Ml.Toy;

/// <summary>Ways to spoil a render, to check that the evaluator notices (and to preview what a bad generator looks like).
/// SoftBlur and LightNoise are the mild kind a decent generator shows; the evaluator should forgive them.</summary>
public enum ToyCorruption { None, Noise, Blur, WrongColours, MissingObjects, ShuffledLetters, SoftBlur, LightNoise }

public static class ToyCorruptions
{
    /// <summary>Standard deviation of the added noise, in [-1, 1] units (0.6 is about 77 of 255).</summary>
    public const float NoiseSigma = 0.6f;
    /// <summary>Radius of the box blur, applied three times (close to a Gaussian of sigma 3.5 px).</summary>
    public const int BlurRadius = 3;
    /// <summary>Standard deviation of LightNoise (about 13 of 255); SoftBlur is one 3x3 box blur.</summary>
    public const float LightNoiseSigma = 0.1f;

    /// <summary>A render of the scene spoilt by <paramref name="corruption"/>; <paramref name="seed"/> makes it repeatable.
    /// Scene corruptions that do not apply (shuffling a scene without a word, say) return the clean render.</summary>
    public static ToyImage Apply(ToyCorruption corruption, ToyScene scene, int seed)
    {
        var random = new Random(seed);
        return corruption switch
        {
            ToyCorruption.None => ToyRenderer.Render(scene),
            ToyCorruption.Noise => AddNoise(ToyRenderer.Render(scene), NoiseSigma, random),
            ToyCorruption.Blur => BoxBlur(ToyRenderer.Render(scene), BlurRadius, passes: 3),
            ToyCorruption.LightNoise => AddNoise(ToyRenderer.Render(scene), LightNoiseSigma, random),
            ToyCorruption.SoftBlur => BoxBlur(ToyRenderer.Render(scene), 1, passes: 1),
            _ => ToyRenderer.Render(Corrupt(corruption, scene, random)),
        };
    }

    /// <summary>The scene changed by a scene-level corruption: every colour replaced by another, the last object or
    /// the word removed, or the word's letters permuted so that at least one moves.</summary>
    public static ToyScene Corrupt(ToyCorruption corruption, ToyScene scene, Random random) => corruption switch
    {
        ToyCorruption.WrongColours => scene with
        {
            Objects = scene.Objects.Select(o => o with { Colour = OtherColour(o.Colour, random) }).ToArray(),
            Word = scene.Word is { } w ? w with { Colour = OtherColour(w.Colour, random) } : null,
        },
        ToyCorruption.MissingObjects => scene.Word is not null ? scene with { Word = null } : scene with { Objects = scene.Objects.SkipLast(1).ToArray() },
        ToyCorruption.ShuffledLetters when scene.Word is { } w && w.Text.Distinct().Count() > 1 => scene with { Word = w with { Text = Shuffle(w.Text, random) } },
        ToyCorruption.ShuffledLetters => scene,
        _ => throw new ArgumentException($"'{corruption}' is not a scene corruption", nameof(corruption)),
    };

    static ToyColour OtherColour(ToyColour colour, Random random) =>
        ToyPalette.ObjectColours[((int)colour + random.Next(1, ToyPalette.ObjectColours.Length)) % ToyPalette.ObjectColours.Length];

    static string Shuffle(string text, Random random)
    {
        while (true)
        {
            var letters = text.ToCharArray();
            random.Shuffle(letters);
            var shuffled = new string(letters);
            if (shuffled != text) return shuffled;
        }
    }

    static ToyImage AddNoise(ToyImage image, float sigma, Random random)
    {
        var pixels = image.Pixels.ToArray();
        for (int i = 0; i < pixels.Length; i++)
        {
            // Box-Muller: a standard normal from two uniforms.
            double u = 1.0 - random.NextDouble(), v = random.NextDouble();
            pixels[i] = Math.Clamp(pixels[i] + sigma * (float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v)), -1f, 1f);
        }
        return new ToyImage(pixels);
    }

    /// <summary>A box blur of the given radius, applied <paramref name="passes"/> times (three passes approach a Gaussian).</summary>
    public static ToyImage BoxBlur(ToyImage image, int radius, int passes)
    {
        var pixels = image.Pixels.ToArray();
        var scratch = new float[ToyImage.Plane];
        for (int c = 0; c < 3; c++)
        {
            var plane = pixels.AsSpan(c * ToyImage.Plane, ToyImage.Plane);
            for (int pass = 0; pass < passes; pass++)
            {
                BoxBlur(plane, scratch, radius, horizontal: true);
                BoxBlur(plane, scratch, radius, horizontal: false);
            }
        }
        return new ToyImage(pixels);
    }

    /// <summary>One-dimensional box blur in place, clamping at the borders.</summary>
    static void BoxBlur(Span<float> plane, float[] scratch, int radius, bool horizontal)
    {
        const int n = ToyImage.Size;
        for (int line = 0; line < n; line++)
            for (int k = 0; k < n; k++)
            {
                float sum = 0;
                for (int d = -radius; d <= radius; d++)
                {
                    int j = Math.Clamp(k + d, 0, n - 1);
                    sum += horizontal ? plane[line * n + j] : plane[j * n + line];
                }
                scratch[horizontal ? line * n + k : k * n + line] = sum / (2 * radius + 1);
            }
        scratch.CopyTo(plane);
    }
}
