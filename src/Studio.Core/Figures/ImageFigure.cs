using SkiaSharp;
using Studio.Ml.Toy;

namespace Studio.Core.Figures;

/// <summary>One cell of a figure: an image file, a line under it, or why there is no image.</summary>
public sealed record FigureCell(string? PngPath, string? Caption = null, string? Missing = null);

/// <summary>One row of a figure: its title (a prompt), a line of detail (its settings), and a cell per column.</summary>
public sealed record FigureRow(string Title, string Detail, IReadOnlyList<FigureCell> Cells);

/// <summary>
/// A grid of images as one PNG, the way a paper shows text encoders side by side: column names at the top, a row's
/// title and detail on its left, each image in a square cell (enlarged by a whole factor with square pixels up to
/// <see cref="MinCell"/> px, or shrunk smoothly to <see cref="MaxCell"/> px) with its caption under it. A cell without an
/// image is grey and says why (its own reason, or that its file is gone, unreadable or outside the folders it may be
/// read from).
/// </summary>
public static class ImageFigure
{
    public const int MinCell = 256, MaxCell = 512;
    const int Gap = 8, TitleWidth = 240, Margin = 12;

    /// <param name="mayRead">Whether an image file may be read (the studio's artifact folders).</param>
    public static byte[] Png(IReadOnlyList<string> columns, IReadOnlyList<FigureRow> rows, Func<string, bool> mayRead)
    {
        if (rows.Count == 0) throw new ArgumentException("a figure needs at least one row", nameof(rows));
        if (rows.FirstOrDefault(r => r.Cells.Count != columns.Count) is { } uneven)
            throw new ArgumentException($"row '{uneven.Title}' has {uneven.Cells.Count} cells for {columns.Count} columns", nameof(rows));
        var bitmaps = rows.Select(r => r.Cells.Select(c => Load(c, mayRead)).ToList()).ToList();
        try
        {
            var largest = bitmaps.SelectMany(b => b).OfType<SKBitmap>().Select(b => Math.Max(b.Width, b.Height)).DefaultIfEmpty(MinCell).Max();
            int cell = Math.Clamp(largest, MinCell, MaxCell);

            using var typeface = ToyCaptions.Typeface();
            using var font = new SKFont(typeface, ToyCaptions.TextSize);
            using var bold = new SKFont(typeface, ToyCaptions.TextSize) { Embolden = true };
            int line = ToyCaptions.LineHeight(font);
            var headers = columns.Select(c => ToyCaptions.Wrap(c, bold, cell)).ToList();
            int headerHeight = headers.Select(h => h.Count).DefaultIfEmpty(1).Max() * line + Gap;
            var titles = rows.Select(r => (Title: ToyCaptions.Wrap(r.Title, bold, TitleWidth), Detail: ToyCaptions.Wrap(r.Detail, font, TitleWidth))).ToList();
            int rowHeight = Math.Max(cell + line + 4, titles.Max(t => t.Title.Count + t.Detail.Count) * line) + Gap;
            int width = Margin * 2 + TitleWidth + Gap + Math.Max(1, columns.Count) * (cell + Gap) - Gap;
            int height = Margin * 2 + headerHeight + rows.Count * rowHeight - Gap;

            using var figure = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
            using var canvas = new SKCanvas(figure);
            canvas.Clear(SKColors.White);
            int left = Margin + TitleWidth + Gap;
            for (int c = 0; c < columns.Count; c++)
                ToyCaptions.Draw(canvas, headers[c], left + c * (cell + Gap), Margin, bold);
            for (int r = 0; r < rows.Count; r++)
            {
                int top = Margin + headerHeight + r * rowHeight;
                ToyCaptions.Draw(canvas, titles[r].Title, Margin, top, bold);
                ToyCaptions.Draw(canvas, titles[r].Detail, Margin, top + titles[r].Title.Count * line, font);
                for (int c = 0; c < columns.Count; c++)
                {
                    var x = left + c * (cell + Gap);
                    var square = new SKRect(x, top, x + cell, top + cell);
                    if (bitmaps[r][c] is { } bitmap) DrawImage(canvas, bitmap, square);
                    else DrawMissing(canvas, square, Missing(rows[r].Cells[c], mayRead), font);
                    if (rows[r].Cells[c].Caption is { } caption) ToyCaptions.Draw(canvas, [caption], x, top + cell + 2, font);
                }
            }
            using var data = figure.Encode(SKEncodedImageFormat.Png, 100);
            return data.ToArray();
        }
        finally
        {
            foreach (var b in bitmaps.SelectMany(b => b)) b?.Dispose();
        }
    }

    static SKBitmap? Load(FigureCell cell, Func<string, bool> mayRead) =>
        cell.PngPath is { } path && mayRead(path) && File.Exists(path) ? SKBitmap.Decode(path) : null;

    /// <summary>Why a cell has no image (<see cref="Load"/> gave none).</summary>
    static string Missing(FigureCell cell, Func<string, bool> mayRead) => cell switch
    {
        { PngPath: { } path } when !mayRead(path) => "the image lies outside the artifact folders",
        { PngPath: { } path } when !File.Exists(path) => $"image file gone: {path}",
        { PngPath: { } path } => $"not a readable image: {path}",
        _ => cell.Missing ?? "no image",
    };

    /// <summary>Fits the image in the square, centred: enlarged by a whole factor with square pixels, or shrunk smoothly.</summary>
    static void DrawImage(SKCanvas canvas, SKBitmap bitmap, SKRect cell)
    {
        var side = Math.Max(bitmap.Width, bitmap.Height);
        var scale = side <= cell.Width ? Math.Floor(cell.Width / side) : cell.Width / side;
        float w = (float)(bitmap.Width * scale), h = (float)(bitmap.Height * scale);
        var target = SKRect.Create(cell.Left + (cell.Width - w) / 2, cell.Top + (cell.Height - h) / 2, w, h);
        using var image = SKImage.FromBitmap(bitmap);
        var sampling = scale >= 1 ? new SKSamplingOptions(SKFilterMode.Nearest) : new SKSamplingOptions(SKCubicResampler.Mitchell);
        canvas.DrawImage(image, target, sampling);
    }

    static void DrawMissing(SKCanvas canvas, SKRect cell, string why, SKFont font)
    {
        using var fill = new SKPaint { Color = new SKColor(0xEE, 0xEE, 0xEE) };
        canvas.DrawRect(cell, fill);
        var lines = ToyCaptions.Wrap(why, font, cell.Width - 16).Take(8).ToList();
        ToyCaptions.Draw(canvas, lines, cell.Left + 8, cell.MidY - lines.Count * ToyCaptions.LineHeight(font) / 2f, font);
    }
}
