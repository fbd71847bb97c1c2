namespace Studio.Ml.Toy;

/// <summary>
/// Which pixels are ink (objects and letters) and in which palette colour, after removing a per-pixel background
/// estimate. A render's pixel is a background colour, a mix of two (gradients), or an object colour; a soft or blurred
/// image adds mixes of ink and background and of two backgrounds (a sign's edge). So each pixel is projected onto
/// every line from a background colour b to an object colour c, and onto every line between two background colours;
/// the nearest line (smallest distance off it) explains the pixel. On an ink line, b is the background estimate and t
/// in [0, 1] the ink coverage (p ~ b + t (c - b)): the pixel is ink of colour c when t is at least
/// <see cref="MinCoverage"/> and it lies within <see cref="MaxResidual"/> of the line. Coverage 1/2 puts the edge of
/// a blurred stroke where the crisp edge was, so letters keep their width under mild blur. Pixels nearest a line
/// between two background colours (gradients, blurred plate edges) are background.
/// </summary>
public static class ToyInk
{
    public const float MinCoverage = 0.5f;
    public const float MaxResidual = 60f;
    public const sbyte None = -1;

    /// <summary>A line's direction from its background colour, and the object colour it leads to (None: a background).</summary>
    readonly record struct Direction(float R, float G, float B, float LengthSquared, float InverseLengthSquared, sbyte Colour)
    {
        public static Direction Between(Rgb from, Rgb to, sbyte colour)
        {
            float r = to.R - from.R, g = to.G - from.G, b = to.B - from.B;
            float lengthSquared = r * r + g * g + b * b;
            return new Direction(r, g, b, lengthSquared, 1f / lengthSquared, colour);
        }
    }

    /// <summary>Per background colour (the lines' common start), the lines to later background colours and to every
    /// object colour.</summary>
    static readonly (Rgb Start, Direction[] ToBackgrounds, Direction[] ToInk)[] Starts = ToyPalette.BackgroundColours
        .Select(first => (
            ToyPalette.Of(first),
            ToyPalette.BackgroundColours.Where(second => first < second).Select(second => Direction.Between(ToyPalette.Of(first), ToyPalette.Of(second), None)).ToArray(),
            ToyPalette.ObjectColours.Select(c => Direction.Between(ToyPalette.Of(first), ToyPalette.Of(c), (sbyte)c)).ToArray()))
        .ToArray();

    /// <summary>Per pixel (row-major), the index of its object colour or <see cref="None"/>.</summary>
    public static sbyte[] Classify(ToyImage image)
    {
        var p = image.Pixels;
        var ink = new sbyte[ToyImage.Plane];
        Span<float> er = stackalloc float[Starts.Length], eg = stackalloc float[Starts.Length], eb = stackalloc float[Starts.Length], e2 = stackalloc float[Starts.Length];
        for (int i = 0; i < ink.Length; i++)
        {
            float r = (p[i] + 1f) * 127.5f, g = (p[ToyImage.Plane + i] + 1f) * 127.5f, b = (p[2 * ToyImage.Plane + i] + 1f) * 127.5f;
            for (int k = 0; k < Starts.Length; k++)
            {
                var start = Starts[k].Start;
                er[k] = r - start.R; eg[k] = g - start.G; eb[k] = b - start.B;
                e2[k] = er[k] * er[k] + eg[k] * eg[k] + eb[k] * eb[k];
            }
            float bestResidual = MaxResidual * MaxResidual, bestCoverage = 0;
            sbyte best = None;
            // Background lines first, so that a tie (a pure background colour) stays background.
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < Starts.Length; k++)
                    foreach (var d in pass == 0 ? Starts[k].ToBackgrounds : Starts[k].ToInk)
                    {
                        // Distance off the segment via |e - t d|^2 = |e|^2 - 2 t (e.d) + t^2 |d|^2.
                        float dot = er[k] * d.R + eg[k] * d.G + eb[k] * d.B;
                        float t = Math.Clamp(dot * d.InverseLengthSquared, 0f, 1f);
                        float residual = e2[k] - 2 * t * dot + t * t * d.LengthSquared;
                        if (residual < bestResidual) { bestResidual = residual; bestCoverage = t; best = d.Colour; }
                    }
            ink[i] = best != None && bestCoverage >= MinCoverage ? best : None;
        }
        return ink;
    }
}

/// <summary>An object the finder saw: its colour, shape, size, grid cell and bounding-box centre in pixels.</summary>
public sealed record DetectedObject(ToyShape Shape, ToyColour Colour, ToySize Size, int Col, int Row, float X, float Y, int Area);

/// <summary>
/// Finds objects: 4-connected components of same-colour ink. A component counts when it has at least
/// <see cref="MinArea"/> pixels and at least <see cref="MinCore"/> core pixels (ink whose four neighbours are the
/// same colour), which drops thin fringes, blur halos and noise specks. Its shape is the nearest prototype (every
/// shape rendered at both sizes in all nine cells, crisp and softened by one and two 3x3 box blurs, and found the same
/// way) by an 8x8 occupancy grid over its bounding box
/// plus the box's aspect ratio; its size compares the box's longer side with the shape's small and large prototypes;
/// its cell is where the box's centre falls.
/// </summary>
public static class ToyObjectFinder
{
    const int Grid = 8;
    const int Descriptor = Grid * Grid + 1;
    public const int MinCore = 4;
    public static readonly int MinArea;

    static readonly List<(ToyShape Shape, float[] Descriptor)> Prototypes = [];
    /// <summary>Per shape, the longer bounding-box side halfway between its small and large renders.</summary>
    static readonly float[] LargeFrom = new float[Enum.GetValues<ToyShape>().Length];

    /// <summary>Box-blur passes (3x3) applied to the prototype renders besides the crisp one, so that soft images,
    /// where thin tips fade, still find their shape.</summary>
    const int PrototypeBlurPasses = 2;

    static ToyObjectFinder()
    {
        int smallest = int.MaxValue;
        var background = new ToyBackground(BackgroundKind.Plain, BackgroundColour.White);
        foreach (var shape in Enum.GetValues<ToyShape>())
        {
            var extents = new Dictionary<ToySize, List<int>> { [ToySize.Small] = [], [ToySize.Large] = [] };
            foreach (var size in Enum.GetValues<ToySize>())
                for (int cell = 0; cell < 9; cell++)
                {
                    var crisp = ToyRenderer.Render(new ToyScene(background, [new ToyObject(shape, ToyColour.Red, size, cell % 3, cell / 3)]));
                    for (int passes = 0; passes <= PrototypeBlurPasses; passes++)
                    {
                        var image = passes == 0 ? crisp : ToyCorruptions.BoxBlur(crisp, 1, passes);
                        var pixels = Components(ToyInk.Classify(image)).MaxBy(c => c.Pixels.Count).Pixels;
                        var box = Box.Of(pixels);
                        Prototypes.Add((shape, Describe(pixels, box)));
                        extents[size].Add(Math.Max(box.Width, box.Height));
                        smallest = Math.Min(smallest, pixels.Count);
                    }
                }
            LargeFrom[(int)shape] = (float)(extents[ToySize.Small].Average() + extents[ToySize.Large].Average()) / 2f;
        }
        MinArea = smallest / 2;
    }

    public static IReadOnlyList<DetectedObject> Find(ToyImage image) => Find(ToyInk.Classify(image));

    public static IReadOnlyList<DetectedObject> Find(sbyte[] ink)
    {
        var found = new List<DetectedObject>();
        foreach (var (colour, pixels, core) in Components(ink))
        {
            if (pixels.Count < MinArea || core < MinCore) continue;
            var box = Box.Of(pixels);
            var shape = NearestShape(Describe(pixels, box));
            var size = Math.Max(box.Width, box.Height) >= LargeFrom[(int)shape] ? ToySize.Large : ToySize.Small;
            float cx = box.Left + box.Width / 2f, cy = box.Top + box.Height / 2f;
            found.Add(new DetectedObject(shape, (ToyColour)colour, size, CellOf(cx), CellOf(cy), cx, cy, pixels.Count));
        }
        return found;
    }

    /// <summary>4-connected components of same-colour ink, with their count of core pixels.</summary>
    static List<(sbyte Colour, List<(int X, int Y)> Pixels, int Core)> Components(sbyte[] ink)
    {
        const int n = ToyImage.Size;
        var visited = new bool[ink.Length];
        var components = new List<(sbyte, List<(int, int)>, int)>();
        var stack = new Stack<int>();
        for (int start = 0; start < ink.Length; start++)
        {
            if (ink[start] == ToyInk.None || visited[start]) continue;
            sbyte colour = ink[start];
            var pixels = new List<(int, int)>();
            int core = 0;
            visited[start] = true;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int i = stack.Pop();
                int x = i % n, y = i / n;
                pixels.Add((x, y));
                int sameNeighbours = 0;
                foreach (var j in Neighbours(x, y))
                {
                    if (ink[j] != colour) continue;
                    sameNeighbours++;
                    if (!visited[j]) { visited[j] = true; stack.Push(j); }
                }
                if (sameNeighbours == 4) core++;
            }
            components.Add((colour, pixels, core));
        }
        return components;
    }

    static int CellOf(float centre) => Math.Clamp((int)(centre / ToyRenderer.CellSize), 0, 2);

    static IEnumerable<int> Neighbours(int x, int y)
    {
        const int n = ToyImage.Size;
        if (x > 0) yield return y * n + x - 1;
        if (x < n - 1) yield return y * n + x + 1;
        if (y > 0) yield return (y - 1) * n + x;
        if (y < n - 1) yield return (y + 1) * n + x;
    }

    static ToyShape NearestShape(float[] descriptor)
    {
        var best = Prototypes[0].Shape;
        float bestDistance = float.MaxValue;
        foreach (var (shape, prototype) in Prototypes)
        {
            float d = 0;
            for (int k = 0; k < Descriptor; k++) d += (descriptor[k] - prototype[k]) * (descriptor[k] - prototype[k]);
            if (d < bestDistance) { bestDistance = d; best = shape; }
        }
        return best;
    }

    /// <summary>Fraction of ink in each cell of an 8x8 grid over the bounding box, then the log aspect ratio.</summary>
    static float[] Describe(List<(int X, int Y)> pixels, Box box)
    {
        var mask = new bool[ToyImage.Plane];
        foreach (var (x, y) in pixels) mask[y * ToyImage.Size + x] = true;
        var descriptor = new float[Descriptor];
        for (int gy = 0; gy < Grid; gy++)
        {
            int y0 = box.Top + gy * box.Height / Grid, y1 = Math.Max(y0 + 1, box.Top + (gy + 1) * box.Height / Grid);
            for (int gx = 0; gx < Grid; gx++)
            {
                int x0 = box.Left + gx * box.Width / Grid, x1 = Math.Max(x0 + 1, box.Left + (gx + 1) * box.Width / Grid);
                int on = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++)
                        if (mask[y * ToyImage.Size + x]) on++;
                descriptor[gy * Grid + gx] = on / (float)((y1 - y0) * (x1 - x0));
            }
        }
        descriptor[Grid * Grid] = 2f * MathF.Log(box.Width / (float)box.Height);
        return descriptor;
    }

    readonly record struct Box(int Left, int Top, int Width, int Height)
    {
        public static Box Of(IReadOnlyCollection<(int X, int Y)> pixels)
        {
            int left = pixels.Min(p => p.X), top = pixels.Min(p => p.Y);
            return new Box(left, top, pixels.Max(p => p.X) - left + 1, pixels.Max(p => p.Y) - top + 1);
        }
    }
}

/// <summary>
/// Reads a word drawn in the toy font. Ink of any object colour counts. The band is the 14-row window with the most
/// ink; the letter count is estimated from the ink's width in the band; then letter count (estimate +-1), left edge
/// and top edge (a few pixels around the ink) are searched for the layout whose 10x14 cells, averaged 2x2 down to
/// 5x7, best match a letter template (each font glyph as this reader sees it crisp and after one or two 3x3 box blurs)
/// or a blank, plus a penalty for band ink outside the cells. Blank cells are dropped.
/// </summary>
public static class ToyTextReader
{
    const int MaxLetters = 6;
    /// <summary>Less band ink than this (a quarter of the thinnest letter, I) means no word.</summary>
    const int MinInk = 13;

    /// <summary>Box-blur passes (3x3) applied to the template renders besides the crisp one (see the object finder).</summary>
    const int TemplateBlurPasses = 2;
    const char Blank = ' ';

    /// <summary>Each letter as the reader sees it: the letter rendered (first of a doubled pair, so a neighbour's
    /// spill is included), crisp and blurred, classified to ink and averaged 2x2; plus the blank cell.</summary>
    static readonly (char Letter, float[] Cell)[] Templates = BuildTemplates();

    static (char, float[])[] BuildTemplates()
    {
        var templates = new List<(char, float[])> { (Blank, new float[ToyFont.Rows * ToyFont.Columns]) };
        var background = new ToyBackground(BackgroundKind.Plain, BackgroundColour.White);
        int left = ToyFont.WordLeft(2), top = ToyFont.WordTop(1);
        for (char letter = 'A'; letter <= 'Z'; letter++)
        {
            var crisp = ToyRenderer.Render(new ToyScene(background, [], new ToyWord($"{letter}{letter}", ToyColour.Red, 1)));
            for (int passes = 0; passes <= TemplateBlurPasses; passes++)
            {
                var image = passes == 0 ? crisp : ToyCorruptions.BoxBlur(crisp, 1, passes);
                var cell = new float[ToyFont.Rows * ToyFont.Columns];
                Downsample(InkMap(ToyInk.Classify(image)), left, top, cell);
                templates.Add((letter, cell));
            }
        }
        return templates.ToArray();
    }

    static float[] InkMap(sbyte[] ink) => ink.Select(c => c == ToyInk.None ? 0f : 1f).ToArray();

    public static string Read(ToyImage image) => Read(ToyInk.Classify(image));

    public static string Read(sbyte[] ink)
    {
        const int n = ToyImage.Size, h = ToyFont.GlyphHeight;
        var on = InkMap(ink);

        var rowInk = new float[n];
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) rowInk[y] += on[y * n + x];
        int bandTop = 0;
        float bandInk = -1;
        for (int top = 0; top <= n - h; top++)
        {
            float sum = 0;
            for (int y = top; y < top + h; y++) sum += rowInk[y];
            if (sum > bandInk) { bandInk = sum; bandTop = top; }
        }
        if (bandInk < MinInk) return "";

        var columnInk = new float[n];
        for (int y = bandTop; y < bandTop + h; y++)
            for (int x = 0; x < n; x++) columnInk[x] += on[y * n + x];
        int left = Array.FindIndex(columnInk, c => c >= 2), right = Array.FindLastIndex(columnInk, c => c >= 2);
        if (left < 0) return "";
        int estimate = (int)Math.Round((right - left + 1 + ToyFont.Advance - ToyFont.GlyphWidth) / (double)ToyFont.Advance);

        float bestCost = float.MaxValue;
        char[] bestLetters = [];
        var cell = new float[ToyFont.Rows * ToyFont.Columns];
        for (int count = Math.Max(1, estimate - 1); count <= Math.Min(MaxLetters, estimate + 1); count++)
            for (int x0 = left - 4; x0 <= left + 1; x0++)
                for (int y0 = Math.Max(0, bandTop - 2); y0 <= Math.Min(n - h, bandTop + 2); y0++)
                {
                    int x1 = x0 + ToyFont.WordWidth(count);
                    float cost = 0;
                    for (int y = y0; y < y0 + h; y++)
                        for (int x = 0; x < n; x++)
                            if (x < x0 || x >= x1) cost += on[y * n + x] / 4f;
                    var letters = new char[count];
                    for (int k = 0; k < count && cost < bestCost; k++)
                    {
                        Downsample(on, x0 + k * ToyFont.Advance, y0, cell);
                        (letters[k], float distance) = Nearest(cell);
                        cost += distance;
                    }
                    if (cost < bestCost) { bestCost = cost; bestLetters = letters; }
                }
        return new string(bestLetters.Where(l => l != Blank).ToArray());
    }

    /// <summary>The mean ink of each 2x2 block of the glyph cell at (left, top); outside the image counts as no ink.</summary>
    static void Downsample(float[] on, int left, int top, float[] cell)
    {
        const int n = ToyImage.Size, s = ToyFont.Scale;
        for (int gy = 0; gy < ToyFont.Rows; gy++)
            for (int gx = 0; gx < ToyFont.Columns; gx++)
            {
                float sum = 0;
                for (int dy = 0; dy < s; dy++)
                    for (int dx = 0; dx < s; dx++)
                    {
                        int x = left + gx * s + dx, y = top + gy * s + dy;
                        if (x >= 0 && x < n && y >= 0 && y < n) sum += on[y * n + x];
                    }
                cell[gy * ToyFont.Columns + gx] = sum / (s * s);
            }
    }

    static (char Letter, float Distance) Nearest(float[] cell)
    {
        char best = Blank;
        float bestDistance = float.MaxValue;
        foreach (var (letter, template) in Templates)
        {
            float d = 0;
            for (int k = 0; k < cell.Length; k++) d += (cell[k] - template[k]) * (cell[k] - template[k]);
            if (d < bestDistance) { bestDistance = d; best = letter; }
        }
        return (best, bestDistance);
    }
}
