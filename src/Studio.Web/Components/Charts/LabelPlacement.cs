namespace Studio.Web.Components.Charts;

/// <summary>
/// Where a chart's point labels go: beside their points, clear of one another, of the markers, error bars and other
/// labels already drawn, and inside the plot, as far as a few spots around each point allow.
/// </summary>
public static class LabelPlacement
{
    /// <summary>An axis-aligned rectangle in SVG units (y grows downwards).</summary>
    public readonly record struct Box(double X, double Y, double Width, double Height)
    {
        public double Area => Width * Height;

        public double Overlap(Box other) =>
            Math.Max(0, Math.Min(X + Width, other.X + other.Width) - Math.Max(X, other.X))
            * Math.Max(0, Math.Min(Y + Height, other.Y + other.Height) - Math.Max(Y, other.Y));
    }

    /// <summary>
    /// A placed label: its text's anchor x and baseline y; <paramref name="LeftOfPoint"/> when it ends at x (text-anchor end);
    /// <paramref name="Leader"/> when it sits more than a line away from its point, so that a thin line should join them.
    /// </summary>
    public readonly record struct Placed(double X, double Y, bool LeftOfPoint, Box Box, bool Leader);

    /// <summary>The charts' 11px label font (studio.css), in SVG units: a generous average glyph width and the line height.</summary>
    public const double CharWidth = 6.3, LineHeight = 12;

    public static double TextWidth(string text) => text.Length * CharWidth;

    /// <summary>The box a text drawn with its baseline at <paramref name="baseline"/> covers, from x to the right or, <paramref name="endsAtX"/>, to the left.</summary>
    public static Box TextBox(double x, double baseline, string text, bool endsAtX = false)
    {
        var width = TextWidth(text);
        return new Box(endsAtX ? x - width : x, baseline - LineHeight + 2, width, LineHeight);
    }

    /// <summary>
    /// Places each label, in order, at the first of these spots beside its point with the least overlap (with the
    /// obstacles, the labels placed so far, and outside <paramref name="plot"/>, which counts four times): right above,
    /// right below, left above, left below, then the same a line further out, and so on up to <see cref="Rings"/> lines
    /// out (a label beside a crowded point moves up or down past its neighbours' error bars rather than across them).
    /// </summary>
    public static IReadOnlyList<Placed> Place(IReadOnlyList<(double X, double Y, string Text)> labels, IEnumerable<Box> obstacles, Box plot)
    {
        var taken = obstacles.ToList();
        var placed = new List<Placed>(labels.Count);
        foreach (var (px, py, text) in labels)
        {
            Placed best = default;
            var bestCost = double.PositiveInfinity;
            foreach (var (dx, dy, left, ring) in Spots)
            {
                var x = left ? px - dx : px + dx;
                var box = TextBox(x, py + dy, text, left);
                var cost = taken.Sum(box.Overlap) + 4 * (box.Area - plot.Overlap(box));
                if (cost < bestCost - 1e-9) (best, bestCost) = (new Placed(x, py + dy, left, box, ring >= 2), cost);
                if (bestCost == 0) break;
            }
            placed.Add(best);
            taken.Add(best.Box);
        }
        return placed;
    }

    /// <summary>How many lines out from its point a label may move.</summary>
    public const int Rings = 6;

    /// <summary>Right above, right below, left above, left below; ring by ring, each a line (14 units) further out.</summary>
    static readonly (double Dx, double Dy, bool Left, int Ring)[] Spots = Enumerable.Range(0, Rings)
        .SelectMany(r => new[] { (8.0, -6.0 - 14 * r, false, r), (8.0, 14.0 + 14 * r, false, r), (8.0, -6.0 - 14 * r, true, r), (8.0, 14.0 + 14 * r, true, r) })
        .ToArray();
}
