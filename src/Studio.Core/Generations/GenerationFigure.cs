using SkiaSharp;
using Studio.Core.Data;
using Studio.Ml.Toy;

namespace Studio.Core.Generations;

/// <summary>
/// Generations as one figure, the way a paper shows text encoders side by side: a row per generation with its prompt
/// and settings on the left, a column per encoder (the teacher's own first, then the students in the order they first
/// appear), named at the top; each image fills a square cell (enlarged with square pixels up to
/// <see cref="MinCell"/> px, or shrunk smoothly to <see cref="MaxCell"/> px), with a student's mean |Δ| to the
/// teacher under it. A cell without an image says why (failed with its error, cancelled, not drawn yet, file gone, or
/// not an encoder of that generation).
/// </summary>
public static class GenerationFigure
{
    /// <summary>The most generations (rows) one figure holds.</summary>
    public const int MaxGenerations = 64;
    public const int MinCell = 256, MaxCell = 512;
    const int Gap = 8, PromptWidth = 240, Margin = 12;

    /// <summary>One column: an encoder, known by what fills the T5 slot.</summary>
    sealed record Column(int? CheckpointId, int? ModelId, string Name)
    {
        public bool Teacher => CheckpointId is null && ModelId is null;
        public bool Holds(GenerationImage image) => image.CheckpointId == CheckpointId && image.ModelId == ModelId;
    }

    /// <summary>
    /// The figure of <paramref name="generations"/> (rows in the order given, with their images) as PNG bytes.
    /// <paramref name="mayRead"/> says whether an image file may be read (the studio's artifact folders); one that may
    /// not, or cannot be decoded, is a cell that says so.
    /// </summary>
    public static byte[] Png(IReadOnlyList<Generation> generations, Func<string, bool> mayRead)
    {
        if (generations.Count is 0 or > MaxGenerations)
            throw new ArgumentException($"a figure holds 1 to {MaxGenerations} generations, not {generations.Count}", nameof(generations));
        var columns = generations.SelectMany(g => g.Images)
            .Select(i => new Column(i.CheckpointId, i.ModelId, i.Encoder))
            .DistinctBy(c => (c.CheckpointId, c.ModelId))
            .OrderBy(c => c.Teacher ? 0 : 1) // stable: students keep their first appearance's order
            .ToList();
        var bitmaps = generations.Select(g => g.Images.ToDictionary(i => i.Id, i => Load(i, mayRead))).ToList();
        try
        {
            var largest = bitmaps.SelectMany(b => b.Values).OfType<SKBitmap>().Select(b => Math.Max(b.Width, b.Height)).DefaultIfEmpty(MinCell).Max();
            int cell = Math.Clamp(largest, MinCell, MaxCell);

            using var typeface = ToyCaptions.Typeface();
            using var font = new SKFont(typeface, ToyCaptions.TextSize);
            using var bold = new SKFont(typeface, ToyCaptions.TextSize) { Embolden = true };
            int line = ToyCaptions.LineHeight(font);
            var headers = columns.Select(c => ToyCaptions.Wrap(c.Name, bold, cell)).ToList();
            int headerHeight = headers.Select(h => h.Count).DefaultIfEmpty(1).Max() * line + Gap;
            var prompts = generations.Select(g => (Prompt: ToyCaptions.Wrap(g.Prompt, bold, PromptWidth), Settings: ToyCaptions.Wrap(Settings(g), font, PromptWidth))).ToList();
            int rowHeight = Math.Max(cell + line + 4, prompts.Max(p => p.Prompt.Count + p.Settings.Count) * line) + Gap;
            int width = Margin * 2 + PromptWidth + Gap + Math.Max(1, columns.Count) * (cell + Gap) - Gap;
            int height = Margin * 2 + headerHeight + generations.Count * rowHeight - Gap;

            using var figure = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
            using var canvas = new SKCanvas(figure);
            canvas.Clear(SKColors.White);
            int left = Margin + PromptWidth + Gap;
            for (int c = 0; c < columns.Count; c++)
                ToyCaptions.Draw(canvas, headers[c], left + c * (cell + Gap), Margin, bold);
            for (int r = 0; r < generations.Count; r++)
            {
                int top = Margin + headerHeight + r * rowHeight;
                ToyCaptions.Draw(canvas, prompts[r].Prompt, Margin, top, bold);
                ToyCaptions.Draw(canvas, prompts[r].Settings, Margin, top + prompts[r].Prompt.Count * line, font);
                for (int c = 0; c < columns.Count; c++)
                {
                    var x = left + c * (cell + Gap);
                    var image = generations[r].Images.FirstOrDefault(columns[c].Holds);
                    var bitmap = image is null ? null : bitmaps[r][image.Id];
                    if (bitmap is not null) DrawImage(canvas, bitmap, new SKRect(x, top, x + cell, top + cell));
                    else DrawMissing(canvas, new SKRect(x, top, x + cell, top + cell), Missing(image, mayRead), font);
                    var caption = image?.DifferenceToTeacher is { } d && !columns[c].Teacher ? $"mean |Δ| {d:0.00}/255" : null;
                    if (caption is not null) ToyCaptions.Draw(canvas, [caption], x, top + cell + 2, font);
                }
            }
            using var data = figure.Encode(SKEncodedImageFormat.Png, 100);
            return data.ToArray();
        }
        finally
        {
            foreach (var b in bitmaps.SelectMany(b => b.Values)) b?.Dispose();
        }
    }

    static string Settings(Generation g) =>
        $"seed {g.Seed} · {g.Steps} steps · guidance {g.Guidance}" + (g.TrueCfgScale > 1 ? $" · true CFG {g.TrueCfgScale}" : "") + $" · {g.Width}x{g.Height} · #{g.Id}";

    static SKBitmap? Load(GenerationImage image, Func<string, bool> mayRead) =>
        image.PngPath is { } path && mayRead(path) && File.Exists(path) ? SKBitmap.Decode(path) : null;

    /// <summary>Why a cell has no image (<see cref="Load"/> gave none).</summary>
    static string Missing(GenerationImage? image, Func<string, bool> mayRead) => image switch
    {
        null => "not an encoder of this generation",
        { Error: { } error } => error,
        { PngPath: { } path } when !mayRead(path) => "the image lies outside the artifact folders",
        { PngPath: { } path } when !File.Exists(path) => $"image file gone: {path}",
        { PngPath: { } path } => $"not a readable image: {path}",
        { State: GenerationState.Queued or GenerationState.Running } => "not drawn yet",
        _ => image.State.ToString().ToLowerInvariant(),
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
