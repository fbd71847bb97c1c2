namespace Studio.Ml.Toy;

/// <summary>The toy world's bitmap font: 5x7 capital letters, drawn at scale 2 (10x14 px) with 2 px between letters,
/// so a 5-letter word is 58 px wide and fits a 64 px image.</summary>
public static class ToyFont
{
    public const int Columns = 5;
    public const int Rows = 7;
    public const int Scale = 2;
    public const int GlyphWidth = Columns * Scale;
    public const int GlyphHeight = Rows * Scale;
    public const int Advance = GlyphWidth + 2;

    static readonly string[] Bitmaps =
    [
        ".###. #...# #...# ##### #...# #...# #...#", // A
        "####. #...# #...# ####. #...# #...# ####.", // B
        ".###. #...# #.... #.... #.... #...# .###.", // C
        "####. #...# #...# #...# #...# #...# ####.", // D
        "##### #.... #.... ####. #.... #.... #####", // E
        "##### #.... #.... ####. #.... #.... #....", // F
        ".###. #...# #.... #.### #...# #...# .####", // G
        "#...# #...# #...# ##### #...# #...# #...#", // H
        ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.", // I
        "..### ...#. ...#. ...#. ...#. #..#. .##..", // J
        "#...# #..#. #.#.. ##... #.#.. #..#. #...#", // K
        "#.... #.... #.... #.... #.... #.... #####", // L
        "#...# ##.## #.#.# #.#.# #...# #...# #...#", // M
        "#...# #...# ##..# #.#.# #..## #...# #...#", // N
        ".###. #...# #...# #...# #...# #...# .###.", // O
        "####. #...# #...# ####. #.... #.... #....", // P
        ".###. #...# #...# #...# #.#.# #..#. .##.#", // Q
        "####. #...# #...# ####. #.#.. #..#. #...#", // R
        ".#### #.... #.... .###. ....# ....# ####.", // S
        "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..", // T
        "#...# #...# #...# #...# #...# #...# .###.", // U
        "#...# #...# #...# #...# #...# .#.#. ..#..", // V
        "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.", // W
        "#...# #...# .#.#. ..#.. .#.#. #...# #...#", // X
        "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..", // Y
        "##### ....# ...#. ..#.. .#... #.... #####", // Z
    ];

    /// <summary>Glyph pixels of letter A-Z, row-major Rows x Columns, true where ink.</summary>
    public static readonly bool[][] Glyphs = Bitmaps
        .Select(b => b.Replace(" ", "").Select(c => c == '#').ToArray())
        .ToArray();

    public static bool[] Glyph(char letter) =>
        letter is >= 'A' and <= 'Z' ? Glyphs[letter - 'A'] : throw new ArgumentOutOfRangeException(nameof(letter), letter, "the toy font has A-Z only");

    /// <summary>Width in pixels of a rendered word of <paramref name="length"/> letters.</summary>
    public static int WordWidth(int length) => length * Advance - (Advance - GlyphWidth);

    /// <summary>Left edge of a word of <paramref name="length"/> letters centred in the image.</summary>
    public static int WordLeft(int length) => (ToyRenderer.Size - WordWidth(length)) / 2;

    /// <summary>Top edge of a word in grid row <paramref name="row"/> (letters centred on the row's middle).</summary>
    public static int WordTop(int row) => (int)MathF.Round((row + 0.5f) * ToyRenderer.CellSize - GlyphHeight / 2f);
}
