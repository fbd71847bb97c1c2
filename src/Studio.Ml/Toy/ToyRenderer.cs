namespace Studio.Ml.Toy;

/// <summary>Draws a scene at 64x64 with crisp pixels (each pixel takes the colour of what covers its centre, no
/// anti-aliasing), so every colour in a render is exactly a palette or background-gradient colour.</summary>
public static class ToyRenderer
{
    public const int Size = 64;
    public const float CellSize = Size / 3f;
    public const float SmallRadius = 5.5f;
    public const float LargeRadius = 9f;
    /// <summary>Stripe width and checker square size in pixels.</summary>
    public const int PatternPeriod = 8;
    /// <summary>Margin of a sign plate around its word, in pixels.</summary>
    public const int PlateMargin = 3;

    public static float Radius(ToySize size) => size == ToySize.Large ? LargeRadius : SmallRadius;

    public static (float X, float Y) CellCentre(int col, int row) => ((col + 0.5f) * CellSize, (row + 0.5f) * CellSize);

    public static ToyImage Render(ToyScene scene) => ToyImage.FromRgb(RenderRgb(scene));

    /// <summary>The scene as 8-bit RGB, row-major with interleaved channels.</summary>
    public static byte[] RenderRgb(ToyScene scene)
    {
        scene.Validate();
        var rgb = new byte[Size * Size * 3];
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
                Put(rgb, x, y, BackgroundAt(scene.Background, x, y));

        foreach (var o in scene.Objects)
        {
            var colour = ToyPalette.Of(o.Colour);
            foreach (var (x, y) in ObjectPixels(o)) Put(rgb, x, y, colour);
        }

        if (scene.Word is { } word) DrawWord(rgb, word);
        return rgb;
    }

    /// <summary>
    /// The scene's ink: 1 where a pixel differs from the scene's background alone (objects, letters, a sign's plate),
    /// else 0; row-major 64x64. Stage A of `studio toy pretrain` weights its reconstruction loss with it.
    /// </summary>
    public static float[] InkMask(ToyScene scene)
    {
        var drawn = RenderRgb(scene);
        var mask = new float[Size * Size];
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                var b = BackgroundAt(scene.Background, x, y);
                int i = (y * Size + x) * 3;
                if (drawn[i] != b.R || drawn[i + 1] != b.G || drawn[i + 2] != b.B) mask[y * Size + x] = 1;
            }
        return mask;
    }

    public static Rgb BackgroundAt(ToyBackground background, int x, int y)
    {
        var first = ToyPalette.Of(background.Colour);
        if (background.Kind == BackgroundKind.Plain) return first;
        var second = ToyPalette.Of(background.Second!.Value);
        return background.Kind switch
        {
            BackgroundKind.Gradient => Lerp(first, second, (y + 0.5f) / Size),
            BackgroundKind.Stripes => (x + y) / PatternPeriod % 2 == 0 ? first : second,
            BackgroundKind.Checks => (x / PatternPeriod + y / PatternPeriod) % 2 == 0 ? first : second,
            _ => throw new ArgumentOutOfRangeException(nameof(background), background.Kind, "not a background kind"),
        };
    }

    static Rgb Lerp(Rgb a, Rgb b, float t) => new(
        (byte)MathF.Round(a.R + (b.R - a.R) * t),
        (byte)MathF.Round(a.G + (b.G - a.G) * t),
        (byte)MathF.Round(a.B + (b.B - a.B) * t));

    /// <summary>The pixels an object covers (pixel centres inside its shape).</summary>
    public static IEnumerable<(int X, int Y)> ObjectPixels(ToyObject o)
    {
        var (cx, cy) = CellCentre(o.Col, o.Row);
        float r = Radius(o.Size);
        int x0 = (int)MathF.Floor(cx - r), x1 = (int)MathF.Ceiling(cx + r);
        int y0 = (int)MathF.Floor(cy - r), y1 = (int)MathF.Ceiling(cy + r);
        for (int y = Math.Max(0, y0); y <= Math.Min(Size - 1, y1); y++)
            for (int x = Math.Max(0, x0); x <= Math.Min(Size - 1, x1); x++)
                if (ToyShapes.Contains(o.Shape, (x + 0.5f - cx) / r, (y + 0.5f - cy) / r))
                    yield return (x, y);
    }

    static void DrawWord(byte[] rgb, ToyWord word)
    {
        int left = ToyFont.WordLeft(word.Text.Length), top = ToyFont.WordTop(word.Row);
        if (word.Plate is { } plate)
        {
            var plateColour = ToyPalette.Of(plate);
            int right = left + ToyFont.WordWidth(word.Text.Length) + PlateMargin;
            for (int y = Math.Max(0, top - PlateMargin); y < Math.Min(Size, top + ToyFont.GlyphHeight + PlateMargin); y++)
                for (int x = Math.Max(0, left - PlateMargin); x < Math.Min(Size, right); x++)
                    Put(rgb, x, y, plateColour);
        }

        var ink = ToyPalette.Of(word.Colour);
        for (int i = 0; i < word.Text.Length; i++)
        {
            var glyph = ToyFont.Glyph(word.Text[i]);
            int glyphLeft = left + i * ToyFont.Advance;
            for (int gy = 0; gy < ToyFont.Rows; gy++)
                for (int gx = 0; gx < ToyFont.Columns; gx++)
                {
                    if (!glyph[gy * ToyFont.Columns + gx]) continue;
                    for (int sy = 0; sy < ToyFont.Scale; sy++)
                        for (int sx = 0; sx < ToyFont.Scale; sx++)
                            Put(rgb, glyphLeft + gx * ToyFont.Scale + sx, top + gy * ToyFont.Scale + sy, ink);
                }
        }
    }

    static void Put(byte[] rgb, int x, int y, Rgb colour)
    {
        int i = (y * Size + x) * 3;
        rgb[i] = colour.R;
        rgb[i + 1] = colour.G;
        rgb[i + 2] = colour.B;
    }
}

/// <summary>Shapes in units of the object's radius, centred at the origin, y pointing down.</summary>
public static class ToyShapes
{
    /// <summary>Half the side of a square, in radii (a square of side 2r would look much bigger than the circle).</summary>
    const float SquareHalfSide = 0.8f;
    /// <summary>Half the width of a cross's arms, in radii.</summary>
    const float CrossHalfWidth = 0.33f;
    const float StarInnerRadius = 0.5f;

    static readonly (float X, float Y)[] Triangle = [(0f, -1f), (1f, 0.8f), (-1f, 0.8f)];

    static readonly (float X, float Y)[] Star = Enumerable.Range(0, 10).Select(k =>
    {
        double angle = -Math.PI / 2 + k * Math.PI / 5;
        float radius = k % 2 == 0 ? 1f : StarInnerRadius;
        return ((float)(radius * Math.Cos(angle)), (float)(radius * Math.Sin(angle)));
    }).ToArray();

    public static bool Contains(ToyShape shape, float x, float y) => shape switch
    {
        ToyShape.Circle => x * x + y * y <= 1f,
        ToyShape.Square => MathF.Abs(x) <= SquareHalfSide && MathF.Abs(y) <= SquareHalfSide,
        ToyShape.Triangle => InPolygon(Triangle, x, y),
        ToyShape.Star => InPolygon(Star, x, y),
        ToyShape.Cross => (MathF.Abs(x) <= 1f && MathF.Abs(y) <= CrossHalfWidth) || (MathF.Abs(y) <= 1f && MathF.Abs(x) <= CrossHalfWidth),
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, "not a shape"),
    };

    /// <summary>Even-odd ray casting; fine for the simple (non-self-intersecting) polygons here.</summary>
    static bool InPolygon((float X, float Y)[] polygon, float x, float y)
    {
        bool inside = false;
        for (int i = 0, j = polygon.Length - 1; i < polygon.Length; j = i++)
        {
            var (xi, yi) = polygon[i];
            var (xj, yj) = polygon[j];
            if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
        }
        return inside;
    }
}
