namespace Studio.Ml.Toy;

/// <summary>
/// Which pixels are ink (objects and letters) and in which palette colour. A pixel is ink of object colour c when c is
/// its nearest object colour, it lies within <see cref="Threshold"/> of c, and no background colour is nearer. The
/// palettes are chosen so that background pixels, gradients included, stay at least 94 away from every object colour
/// (ToyPaletteTests), so this removes the background without estimating it.
/// </summary>
public static class ToyInk
{
    public const float Threshold = 60f;
    public const sbyte None = -1;

    static readonly Rgb[] Objects = ToyPalette.ObjectColours.Select(ToyPalette.Of).ToArray();
    static readonly Rgb[] Backgrounds = ToyPalette.BackgroundColours.Select(ToyPalette.Of).ToArray();

    /// <summary>Per pixel (row-major), the index of its object colour or <see cref="None"/>.</summary>
    public static sbyte[] Classify(ToyImage image)
    {
        var p = image.Pixels;
        var ink = new sbyte[ToyImage.Plane];
        for (int i = 0; i < ink.Length; i++)
        {
            float r = (p[i] + 1f) * 127.5f, g = (p[ToyImage.Plane + i] + 1f) * 127.5f, b = (p[2 * ToyImage.Plane + i] + 1f) * 127.5f;
            sbyte best = None;
            float bestDistance = Threshold;
            for (int c = 0; c < Objects.Length; c++)
            {
                float d = Objects[c].DistanceTo(r, g, b);
                if (d < bestDistance) { bestDistance = d; best = (sbyte)c; }
            }
            if (best != None)
                foreach (var background in Backgrounds)
                    if (background.DistanceTo(r, g, b) <= bestDistance) { best = None; break; }
            ink[i] = best;
        }
        return ink;
    }
}

/// <summary>An object the finder saw: its colour, shape, size, grid cell and bounding-box centre in pixels.</summary>
public sealed record DetectedObject(ToyShape Shape, ToyColour Colour, ToySize Size, int Col, int Row, float X, float Y, int Area);

/// <summary>
/// Finds objects: 4-connected components of same-colour ink. A component counts when it has at least
/// <see cref="MinArea"/> pixels and at least <see cref="MinCore"/> core pixels (ink whose four neighbours are the
/// same colour), which drops letters' thin strokes' fringes, blur halos and noise specks. Its shape is the nearest
/// prototype (every shape rendered at both sizes in all nine cells) by an 8x8 occupancy grid over its bounding box
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

    static ToyObjectFinder()
    {
        int smallest = int.MaxValue;
        foreach (var shape in Enum.GetValues<ToyShape>())
        {
            var extents = new Dictionary<ToySize, List<int>> { [ToySize.Small] = [], [ToySize.Large] = [] };
            foreach (var size in Enum.GetValues<ToySize>())
                for (int cell = 0; cell < 9; cell++)
                {
                    var pixels = ToyRenderer.ObjectPixels(new ToyObject(shape, ToyColour.Red, size, cell % 3, cell / 3)).ToList();
                    var mask = new bool[ToyImage.Plane];
                    foreach (var (x, y) in pixels) mask[y * ToyImage.Size + x] = true;
                    var box = Box.Of(pixels);
                    Prototypes.Add((shape, Describe(mask, box)));
                    extents[size].Add(Math.Max(box.Width, box.Height));
                    smallest = Math.Min(smallest, pixels.Count);
                }
            LargeFrom[(int)shape] = (float)(extents[ToySize.Small].Average() + extents[ToySize.Large].Average()) / 2f;
        }
        MinArea = smallest / 2;
    }

    public static IReadOnlyList<DetectedObject> Find(ToyImage image) => Find(ToyInk.Classify(image));

    public static IReadOnlyList<DetectedObject> Find(sbyte[] ink)
    {
        const int n = ToyImage.Size;
        var label = new int[ink.Length];
        var found = new List<DetectedObject>();
        var stack = new Stack<int>();
        var pixels = new List<(int X, int Y)>();
        int next = 0;
        for (int start = 0; start < ink.Length; start++)
        {
            if (ink[start] == ToyInk.None || label[start] != 0) continue;
            sbyte colour = ink[start];
            int id = ++next, core = 0;
            pixels.Clear();
            label[start] = id;
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
                    if (label[j] == 0) { label[j] = id; stack.Push(j); }
                }
                if (sameNeighbours == 4) core++;
            }
            if (pixels.Count < MinArea || core < MinCore) continue;

            var box = Box.Of(pixels);
            var mask = new bool[ink.Length];
            foreach (var (x, y) in pixels) mask[y * n + x] = true;
            var shape = NearestShape(Describe(mask, box));
            var size = Math.Max(box.Width, box.Height) >= LargeFrom[(int)shape] ? ToySize.Large : ToySize.Small;
            float cx = box.Left + box.Width / 2f, cy = box.Top + box.Height / 2f;
            found.Add(new DetectedObject(shape, (ToyColour)colour, size, CellOf(cx), CellOf(cy), cx, cy, pixels.Count));
        }
        return found;
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
    static float[] Describe(bool[] mask, Box box)
    {
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
/// 5x7, best match a font glyph or a blank, plus a penalty for band ink outside the cells. Blank cells are dropped.
/// </summary>
public static class ToyTextReader
{
    const int MaxLetters = 6;
    /// <summary>Less band ink than this (a quarter of the thinnest letter, I) means no word.</summary>
    const int MinInk = 13;

    static readonly float[][] Templates = ToyFont.Glyphs
        .Select(g => g.Select(on => on ? 1f : 0f).ToArray())
        .Append(new float[ToyFont.Rows * ToyFont.Columns])
        .ToArray();
    static readonly int Blank = Templates.Length - 1;

    public static string Read(ToyImage image) => Read(ToyInk.Classify(image));

    public static string Read(sbyte[] ink)
    {
        const int n = ToyImage.Size, h = ToyFont.GlyphHeight;
        var on = new float[ink.Length];
        for (int i = 0; i < ink.Length; i++) on[i] = ink[i] == ToyInk.None ? 0f : 1f;

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
        int[] bestLetters = [];
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
                    var letters = new int[count];
                    for (int k = 0; k < count && cost < bestCost; k++)
                    {
                        Downsample(on, x0 + k * ToyFont.Advance, y0, cell);
                        (letters[k], float distance) = Nearest(cell);
                        cost += distance;
                    }
                    if (cost < bestCost) { bestCost = cost; bestLetters = letters; }
                }
        return new string(bestLetters.Where(l => l != Blank).Select(l => (char)('A' + l)).ToArray());
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

    static (int Template, float Distance) Nearest(float[] cell)
    {
        int best = Blank;
        float bestDistance = float.MaxValue;
        for (int t = 0; t < Templates.Length; t++)
        {
            float d = 0;
            var template = Templates[t];
            for (int k = 0; k < cell.Length; k++) d += (cell[k] - template[k]) * (cell[k] - template[k]);
            if (d < bestDistance) { bestDistance = d; best = t; }
        }
        return (best, bestDistance);
    }
}
