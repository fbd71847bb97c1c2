using SkiaSharp;

namespace Studio.Ml.Toy;

/// <summary>
/// The text the toy world draws on its PNGs (sheet captions, chart labels), in DejaVu Sans shipped in Assets/fonts
/// with its license: the Linux SkiaSharp assets are built without fontconfig, so the default typeface has no glyphs
/// and draws nothing.
/// </summary>
public static class ToyCaptions
{
    /// <summary>Caption text size in pixels: readable at 100% zoom.</summary>
    public const float TextSize = 12;

    public static SKTypeface Typeface()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Assets", "fonts", "DejaVuSans.ttf");
        return SKTypeface.FromFile(path) ?? throw new FileNotFoundException($"{path}: the caption font is missing or unreadable", path);
    }

    /// <summary>Pixels from one line's top to the next one's.</summary>
    public static int LineHeight(SKFont font) => (int)MathF.Ceiling(font.Spacing);

    /// <summary>
    /// Breaks <paramref name="text"/> into lines no wider than <paramref name="width"/>: at each newline, then between
    /// words; a word wider than a line alone is broken between characters.
    /// </summary>
    public static IReadOnlyList<string> Wrap(string text, SKFont font, float width)
    {
        var lines = new List<string>();
        foreach (var paragraph in text.Split('\n'))
        {
            var line = "";
            foreach (var word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var joined = line.Length == 0 ? word : line + " " + word;
                if (font.MeasureText(joined) <= width) { line = joined; continue; }
                if (line.Length > 0) lines.Add(line);
                line = word;
                while (font.MeasureText(line) > width && line.Length > 1)
                {
                    int fits = 1;
                    while (fits < line.Length && font.MeasureText(line[..(fits + 1)]) <= width) fits++;
                    lines.Add(line[..fits]);
                    line = line[fits..];
                }
            }
            lines.Add(line);
        }
        return lines;
    }

    /// <summary>Draws lines in black, left-aligned, the first line's top at <paramref name="top"/>.</summary>
    public static void Draw(SKCanvas canvas, IReadOnlyList<string> lines, float left, float top, SKFont font)
    {
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        var height = LineHeight(font);
        for (int i = 0; i < lines.Count; i++)
            canvas.DrawText(lines[i], left, top + i * height - font.Metrics.Ascent, SKTextAlign.Left, font, ink);
    }
}
