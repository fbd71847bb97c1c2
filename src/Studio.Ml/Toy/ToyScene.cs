using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Studio.Ml.Toy;

public enum ToyShape { Circle, Square, Triangle, Star, Cross }

public enum ToySize { Small, Large }

/// <summary>Plain: one colour. Gradient: top colour to bottom colour. Stripes: diagonal bands 8 px wide.
/// Checks: an 8 px checkerboard.</summary>
public enum BackgroundKind { Plain, Gradient, Stripes, Checks }

/// <summary>The background. <paramref name="Second"/> is required by every kind but Plain, and differs from the first.</summary>
public sealed record ToyBackground(BackgroundKind Kind, BackgroundColour Colour, BackgroundColour? Second = null);

/// <summary>One object, centred in cell (Col, Row) of the 3x3 grid; (0, 0) is the top left.</summary>
public sealed record ToyObject(ToyShape Shape, ToyColour Colour, ToySize Size, int Col, int Row);

/// <summary>A word of 2-5 capital letters, centred horizontally in grid row Row, optionally on a plate (a sign).</summary>
public sealed record ToyWord(string Text, ToyColour Colour, int Row, BackgroundColour? Plate = null);

/// <summary>What a toy image shows: a background, up to 4 objects in distinct cells, and optionally a word.
/// A scene with a word has no objects (the word spans its whole grid row and the evaluator reads it alone).</summary>
public sealed record ToyScene(ToyBackground Background, IReadOnlyList<ToyObject> Objects, ToyWord? Word = null)
{
    public const int MaxObjects = 4;
    public const int MinWordLength = 2;
    public const int MaxWordLength = 5;

    public bool Equals(ToyScene? other) =>
        other is not null && Background == other.Background && Word == other.Word && Objects.SequenceEqual(other.Objects);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Background);
        hash.Add(Word);
        foreach (var o in Objects) hash.Add(o);
        return hash.ToHashCode();
    }

    /// <summary>Throws <see cref="ToySceneException"/> naming the first field at fault.</summary>
    public void Validate()
    {
        Require(Background is not null, "background", "is missing");
        Require(Enum.IsDefined(Background!.Kind), "background.kind", $"'{Background.Kind}' is not a background kind");
        Require(Enum.IsDefined(Background.Colour), "background.colour", $"'{Background.Colour}' is not a background colour");
        if (Background.Kind == BackgroundKind.Plain)
            Require(Background.Second is null, "background.second", "must be absent for a plain background");
        else
        {
            Require(Background.Second is not null, "background.second", $"is required for a {Background.Kind.ToString().ToLowerInvariant()} background");
            Require(Enum.IsDefined(Background.Second!.Value), "background.second", $"'{Background.Second}' is not a background colour");
            Require(Background.Second != Background.Colour, "background.second", "must differ from background.colour");
        }

        Require(Objects is not null, "objects", "is missing");
        Require(Objects!.Count <= MaxObjects, "objects", $"has {Objects.Count} entries; at most {MaxObjects} are allowed");
        for (int i = 0; i < Objects.Count; i++)
        {
            var o = Objects[i];
            var at = $"objects[{i}]";
            Require(o is not null, at, "is null");
            Require(Enum.IsDefined(o!.Shape), $"{at}.shape", $"'{o.Shape}' is not a shape");
            Require(Enum.IsDefined(o.Colour), $"{at}.colour", $"'{o.Colour}' is not an object colour");
            Require(Enum.IsDefined(o.Size), $"{at}.size", $"'{o.Size}' is not a size");
            Require(o.Col is >= 0 and < 3, $"{at}.col", $"{o.Col} is outside the 3x3 grid (0-2)");
            Require(o.Row is >= 0 and < 3, $"{at}.row", $"{o.Row} is outside the 3x3 grid (0-2)");
            for (int j = 0; j < i; j++)
                Require(Objects[j].Col != o.Col || Objects[j].Row != o.Row, at, $"shares cell ({o.Col}, {o.Row}) with objects[{j}]");
        }

        if (Word is not null)
        {
            Require(Objects.Count == 0, "word", "cannot be combined with objects");
            Require(Word.Text is not null && Word.Text.Length is >= MinWordLength and <= MaxWordLength, "word.text",
                $"'{Word.Text}' must have {MinWordLength}-{MaxWordLength} letters");
            Require(Word.Text!.All(c => c is >= 'A' and <= 'Z'), "word.text", $"'{Word.Text}' must be capital letters A-Z only");
            Require(Enum.IsDefined(Word.Colour), "word.colour", $"'{Word.Colour}' is not an object colour");
            Require(Word.Row is >= 0 and < 3, "word.row", $"{Word.Row} is outside the 3x3 grid (0-2)");
            if (Word.Plate is { } plate)
            {
                Require(Enum.IsDefined(plate), "word.plate", $"'{plate}' is not a background colour");
                Require(plate != Background.Colour || Background.Kind != BackgroundKind.Plain, "word.plate", "must differ from a plain background");
            }
        }
    }

    static void Require(bool condition, string field, string problem)
    {
        if (!condition) throw new ToySceneException($"scene.{field}: {problem}");
    }

    public string ToJson() => JsonSerializer.Serialize(this, ToyJson.Options);

    /// <summary>Parses and validates a scene; <paramref name="source"/> names where the JSON came from in errors.</summary>
    public static ToyScene FromJson(string json, string source = "scene JSON")
    {
        ToyScene? scene;
        try { scene = JsonSerializer.Deserialize<ToyScene>(json, ToyJson.Options); }
        catch (JsonException e) { throw new ToySceneException($"{source}: {e.Message}", e); }
        if (scene is null) throw new ToySceneException($"{source}: is null, expected a scene object");
        try { scene.Validate(); }
        catch (ToySceneException e) { throw new ToySceneException($"{source}: {e.Message}", e); }
        return scene;
    }
}

public sealed class ToySceneException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>JSON shape of toy scenes and prompts: camelCase fields, kebab-case enum names ("light-blue"), nulls left out,
/// quotes in prompts written as they are (these files are data, never embedded in HTML).</summary>
public static class ToyJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };
}
