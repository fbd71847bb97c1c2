using System.Text;

namespace Studio.Ml.Toy;

/// <summary>The prompt categories, named after the paper's three criteria (image quality, semantic understanding in
/// T2I-CompBench's sub-categories, text rendering). The criterion is the part before the '/'.</summary>
public static class ToyCriteria
{
    public const string ImageQuality = "image-quality";
    public const string SemanticsColour = "semantics/colour";
    public const string SemanticsSpatial = "semantics/spatial";
    public const string SemanticsNumeracy = "semantics/numeracy";
    public const string Text = "text";
    public const string Semantics = "semantics";
    public const string All = "all";

    public static readonly string[] Categories = [ImageQuality, SemanticsColour, SemanticsSpatial, SemanticsNumeracy, Text];

    public static string CriterionOf(string category) => category.Split('/')[0];

    /// <summary>The categories a criterion ("image-quality", "semantics", "text", "all") or a single category stands for.</summary>
    public static IReadOnlyList<string> Expand(string criterion)
    {
        if (criterion == All) return Categories;
        var matching = Categories.Where(c => c == criterion || CriterionOf(c) == criterion).ToArray();
        return matching.Length > 0
            ? matching
            : throw new ArgumentException($"unknown criterion '{criterion}': use {All}, {ImageQuality}, {Semantics}, {Text} or one of {string.Join(", ", Categories)}");
    }
}

public enum ToySplit { Train, HeldOut }

/// <summary>A prompt with the scene it describes, so an image made from the text can be checked against the scene.</summary>
public sealed record ToyPrompt(string Text, string Category, ToyScene Scene);

/// <summary>
/// Seeded prompt generator. The split is a property of the prompt text: a prompt is held out when the FNV-1a hash of
/// its UTF-8 text is divisible by 10 (about 10% of all prompts), so no held-out text is ever produced for training,
/// whatever the seed. <see cref="HeldOut"/> is the fixed evaluation set: the first prompts drawn with
/// <see cref="HeldOutSeed"/>.
/// </summary>
public static class ToyPrompts
{
    public const int HeldOutSeed = 0;
    const int HeldOutModulus = 10;

    /// <summary>Words drawn by text prompts (2-5 capital letters; together they use all 26 letters).</summary>
    public static readonly string[] Words =
    [
        "GO", "HI", "NO", "OK", "UP", "ON", "IN", "WE", "US", "IT", "AT", "BY", "DO", "MY", "SO", "TO",
        "CAT", "DOG", "SUN", "SKY", "RED", "BIG", "HOT", "CUP", "BOX", "FOX", "OWL", "BEE", "ICE", "TEA", "MAP", "KEY",
        "PEN", "BUS", "CAR", "JAM", "ZOO", "ART", "FUN", "JOY", "WIN", "YES", "TOP", "OUT", "VAN", "WAX",
        "STOP", "OPEN", "EXIT", "SALE", "CAFE", "BOOK", "MILK", "FISH", "BIRD", "TREE", "STAR", "MOON", "RAIN", "SNOW",
        "WIND", "FIRE", "GOLD", "BLUE", "PARK", "SHOP", "HOME", "LOVE", "HELP", "PUSH", "PULL", "FOOD", "WALK", "JAZZ",
        "QUIZ", "ZERO",
        "HELLO", "WORLD", "PIZZA", "MUSIC", "HAPPY", "LIGHT", "WATER", "BREAD", "PLANT", "QUIET", "SLEEP", "DREAM",
        "SMILE", "RIVER", "OCEAN", "TIGER", "ZEBRA", "HOTEL", "RADIO", "CLOCK", "APPLE", "LEMON", "MANGO", "PIANO",
        "TRAIN", "WHEEL", "BEACH", "CANDY", "FRESH", "SUGAR",
    ];

    static readonly string[] Styles =
        ["", "a flat illustration of ", "a simple icon of ", "a clean drawing of ", "a minimal picture of ", "a sharp image of "];

    static readonly string[] Numbers = ["zero", "one", "two", "three", "four"];

    public static ToySplit SplitOf(string text)
    {
        uint hash = 2166136261;
        foreach (var b in Encoding.UTF8.GetBytes(text)) hash = (hash ^ b) * 16777619;
        return hash % HeldOutModulus == 0 ? ToySplit.HeldOut : ToySplit.Train;
    }

    /// <summary>The fixed held-out evaluation prompts of a criterion or category.</summary>
    public static IReadOnlyList<ToyPrompt> HeldOut(string criterion, int count) => Generate(criterion, count, HeldOutSeed, ToySplit.HeldOut);

    /// <summary>
    /// <paramref name="count"/> prompts of the split, the categories of <paramref name="criterion"/> taking turns.
    /// Texts are distinct while the category still has unseen texts (a draw is retried up to 200 times).
    /// </summary>
    public static IReadOnlyList<ToyPrompt> Generate(string criterion, int count, int seed, ToySplit split)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var categories = ToyCriteria.Expand(criterion);
        var random = new Random(seed);
        var seen = new HashSet<string>();
        var prompts = new List<ToyPrompt>(count);
        for (int i = 0; i < count; i++)
        {
            var category = categories[i % categories.Count];
            ToyPrompt? chosen = null;
            for (int attempt = 0; chosen is null; attempt++)
            {
                var prompt = Sample(category, random);
                if (SplitOf(prompt.Text) != split) continue;
                if (seen.Add(prompt.Text) || attempt >= 200) chosen = prompt;
            }
            prompts.Add(chosen);
        }
        return prompts;
    }

    /// <summary>One prompt of a category, in either split.</summary>
    public static ToyPrompt Sample(string category, Random random) => category switch
    {
        ToyCriteria.ImageQuality => ImageQuality(random),
        ToyCriteria.SemanticsColour => ColourBinding(random),
        ToyCriteria.SemanticsSpatial => Spatial(random),
        ToyCriteria.SemanticsNumeracy => Numeracy(random),
        ToyCriteria.Text => Text(random),
        _ => throw new ArgumentException($"unknown category '{category}': use one of {string.Join(", ", ToyCriteria.Categories)}", nameof(category)),
    };

    /// <summary>One clean object in the middle, any background, with style and background wording.</summary>
    static ToyPrompt ImageQuality(Random random)
    {
        var background = AnyBackground(random);
        var o = new ToyObject(Pick(random, Enum.GetValues<ToyShape>()), Pick(random, ToyPalette.ObjectColours), Pick(random, Enum.GetValues<ToySize>()), 1, 1);
        bool saySize = random.Next(2) == 0;
        var text = $"{Pick(random, Styles)}{WithArticle(Describe(o, saySize))} on {BackgroundPhrase(background)}";
        return new(text, ToyCriteria.ImageQuality, new ToyScene(background, [o]));
    }

    /// <summary>Two objects of different colours and shapes: each colour must go to the right shape.</summary>
    static ToyPrompt ColourBinding(Random random)
    {
        var colours = Distinct(random, ToyPalette.ObjectColours, 2);
        var shapes = Distinct(random, Enum.GetValues<ToyShape>(), 2);
        var cells = Cells(random, 2);
        var objects = Enumerable.Range(0, 2)
            .Select(i => new ToyObject(shapes[i], colours[i], Pick(random, Enum.GetValues<ToySize>()), cells[i].Col, cells[i].Row))
            .ToArray();
        var background = PlainBackground(random);
        string a = WithArticle(Describe(objects[0], false)), b = WithArticle(Describe(objects[1], false));
        var text = random.Next(3) switch
        {
            0 => $"{a} and {b}",
            1 => $"{a} and {b} on a {ToyPalette.Word(background.Colour)} background",
            _ => $"{a} with {b}",
        };
        return new(text, ToyCriteria.SemanticsColour, new ToyScene(background, objects));
    }

    /// <summary>Two objects of different colours in one row (left/right) or one column (above/below).</summary>
    static ToyPrompt Spatial(Random random)
    {
        var colours = Distinct(random, ToyPalette.ObjectColours, 2);
        var size = Pick(random, Enum.GetValues<ToySize>());
        var relation = random.Next(4);
        var line = random.Next(3);
        var places = Distinct(random, [0, 1, 2], 2);
        // places[0] is where the first-named object goes along the relation's axis.
        bool firstComesFirst = relation is 0 or 2;
        if ((places[0] < places[1]) != firstComesFirst) places = [places[1], places[0]];
        bool horizontal = relation < 2;
        var objects = Enumerable.Range(0, 2).Select(i => new ToyObject(
            Pick(random, Enum.GetValues<ToyShape>()), colours[i], size,
            horizontal ? places[i] : line, horizontal ? line : places[i])).ToArray();
        string[] phrases = relation switch
        {
            0 => ["to the left of", "on the left of", "left of"],
            1 => ["to the right of", "on the right of", "right of"],
            2 => ["above", "over"],
            _ => ["below", "under"],
        };
        var background = PlainBackground(random);
        var text = $"{WithArticle(Describe(objects[0], false))} {Pick(random, phrases)} {WithArticle(Describe(objects[1], false))}";
        if (random.Next(3) == 0) text += $" on a {ToyPalette.Word(background.Colour)} background";
        return new(text, ToyCriteria.SemanticsSpatial, new ToyScene(background, objects));
    }

    /// <summary>One to four identical objects in distinct cells.</summary>
    static ToyPrompt Numeracy(Random random)
    {
        int count = random.Next(1, ToyScene.MaxObjects + 1);
        var shape = Pick(random, Enum.GetValues<ToyShape>());
        var colour = Pick(random, ToyPalette.ObjectColours);
        var size = Pick(random, Enum.GetValues<ToySize>());
        var objects = Cells(random, count).Select(c => new ToyObject(shape, colour, size, c.Col, c.Row)).ToArray();
        var background = PlainBackground(random);
        var noun = count == 1 ? ShapeWord(shape) : Plural(shape);
        var colourWord = ToyPalette.Word(colour);
        var text = random.Next(3) switch
        {
            0 => $"{Numbers[count]} {colourWord} {noun}",
            1 => $"{Numbers[count]} {SizeWord(size)} {colourWord} {noun}",
            _ => $"{Numbers[count]} {colourWord} {noun} on a {ToyPalette.Word(background.Colour)} background",
        };
        return new(text, ToyCriteria.SemanticsNumeracy, new ToyScene(background, objects));
    }

    /// <summary>A word on a sign or on the background, in several templates (as CommonText's "holding a sign reading").</summary>
    static ToyPrompt Text(Random random)
    {
        var word = Pick(random, Words);
        var ink = Pick(random, ToyPalette.ObjectColours);
        var background = random.Next(10) < 7 ? PlainBackground(random) : AnyBackground(random);
        var plate = Pick(random, ToyPalette.BackgroundColours.Where(c => c != background.Colour && c != background.Second).ToArray());
        string bg = BackgroundPhrase(background), inkWord = ToyPalette.Word(ink), plateWord = ToyPalette.Word(plate);
        var (text, row, onPlate) = random.Next(8) switch
        {
            0 => ($"a sign that says '{word}'", 1, true),
            1 => ($"{WithArticle(plateWord)} sign that says '{word}'", 1, true),
            2 => ($"a sign reading '{word}' in {inkWord} letters", 1, true),
            3 => ($"a poster with the text '{word}'", 1, true),
            4 => ($"the word '{word}' in {inkWord} letters on {bg}", 1, false),
            5 => ($"the word '{word}' written in {inkWord}", 1, false),
            6 => ($"'{word}' written at the top of {bg}", 0, false),
            _ => ($"'{word}' written at the bottom of {bg}", 2, false),
        };
        return new(text, ToyCriteria.Text, new ToyScene(background, [], new ToyWord(word, ink, row, onPlate ? plate : null)));
    }

    static ToyBackground PlainBackground(Random random) => new(BackgroundKind.Plain, Pick(random, ToyPalette.BackgroundColours));

    /// <summary>Plain 40% of the time, otherwise a gradient, stripes or checks of two colours.</summary>
    static ToyBackground AnyBackground(Random random)
    {
        if (random.Next(5) < 2) return PlainBackground(random);
        var kind = Pick(random, [BackgroundKind.Gradient, BackgroundKind.Stripes, BackgroundKind.Checks]);
        var colours = Distinct(random, ToyPalette.BackgroundColours, 2);
        return new(kind, colours[0], colours[1]);
    }

    static string BackgroundPhrase(ToyBackground b)
    {
        var first = ToyPalette.Word(b.Colour);
        var second = b.Second is { } s ? ToyPalette.Word(s) : "";
        return b.Kind switch
        {
            BackgroundKind.Plain => $"a {first} background",
            BackgroundKind.Gradient => $"a {first} to {second} gradient",
            BackgroundKind.Stripes => $"{first} and {second} stripes",
            _ => $"{first} and {second} checks",
        };
    }

    static string Describe(ToyObject o, bool saySize) =>
        saySize ? $"{SizeWord(o.Size)} {ToyPalette.Word(o.Colour)} {ShapeWord(o.Shape)}" : $"{ToyPalette.Word(o.Colour)} {ShapeWord(o.Shape)}";

    static string WithArticle(string phrase) => ("aeiou".Contains(phrase[0]) ? "an " : "a ") + phrase;

    static string SizeWord(ToySize size) => size.ToString().ToLowerInvariant();

    public static string ShapeWord(ToyShape shape) => shape.ToString().ToLowerInvariant();

    static string Plural(ToyShape shape) => shape == ToyShape.Cross ? "crosses" : ShapeWord(shape) + "s";

    static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    static T[] Distinct<T>(Random random, IReadOnlyList<T> items, int count)
    {
        var copy = items.ToArray();
        for (int i = 0; i < count; i++)
        {
            int j = random.Next(i, copy.Length);
            (copy[i], copy[j]) = (copy[j], copy[i]);
        }
        return copy[..count];
    }

    static (int Col, int Row)[] Cells(Random random, int count) =>
        Distinct(random, Enumerable.Range(0, 9).ToArray(), count).Select(c => (c % 3, c / 3)).ToArray();
}
