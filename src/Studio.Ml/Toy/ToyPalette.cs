namespace Studio.Ml.Toy;

/// <summary>An 8-bit RGB colour.</summary>
public readonly record struct Rgb(byte R, byte G, byte B)
{
    public float SquaredDistanceTo(float r, float g, float b)
    {
        float dr = r - R, dg = g - G, db = b - B;
        return dr * dr + dg * dg + db * db;
    }
}

/// <summary>Colours that objects and letters are drawn in: saturated, at least 92 apart in RGB.</summary>
public enum ToyColour { Red, Orange, Yellow, Green, Cyan, Blue, Purple, Pink }

/// <summary>Colours of backgrounds and sign plates: neutral or dark, so that no background pixel (gradients included)
/// comes within 94 of an object colour and the evaluator can tell objects from background by colour alone.</summary>
public enum BackgroundColour { White, Black, Gray, Beige, LightBlue, Navy, Brown }

public static class ToyPalette
{
    public static readonly ToyColour[] ObjectColours = Enum.GetValues<ToyColour>();
    public static readonly BackgroundColour[] BackgroundColours = Enum.GetValues<BackgroundColour>();

    public static Rgb Of(ToyColour colour) => colour switch
    {
        ToyColour.Red => new(220, 40, 40),
        ToyColour.Orange => new(250, 130, 10),
        ToyColour.Yellow => new(245, 225, 30),
        ToyColour.Green => new(40, 170, 70),
        ToyColour.Cyan => new(40, 200, 210),
        ToyColour.Blue => new(40, 80, 220),
        ToyColour.Purple => new(150, 50, 200),
        ToyColour.Pink => new(240, 70, 190),
        _ => throw new ArgumentOutOfRangeException(nameof(colour), colour, "not a toy colour"),
    };

    public static Rgb Of(BackgroundColour colour) => colour switch
    {
        BackgroundColour.White => new(250, 250, 250),
        BackgroundColour.Black => new(25, 25, 25),
        BackgroundColour.Gray => new(128, 128, 128),
        BackgroundColour.Beige => new(230, 215, 180),
        BackgroundColour.LightBlue => new(180, 205, 230),
        BackgroundColour.Navy => new(30, 35, 80),
        BackgroundColour.Brown => new(100, 70, 50),
        _ => throw new ArgumentOutOfRangeException(nameof(colour), colour, "not a background colour"),
    };

    /// <summary>The colour's name as prompts say it ("light blue").</summary>
    public static string Word(ToyColour colour) => colour.ToString().ToLowerInvariant();

    public static string Word(BackgroundColour colour) => colour == BackgroundColour.LightBlue ? "light blue" : colour.ToString().ToLowerInvariant();
}
