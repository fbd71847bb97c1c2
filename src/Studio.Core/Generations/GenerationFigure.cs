using Studio.Core.Data;
using Studio.Core.Figures;

namespace Studio.Core.Generations;

/// <summary>
/// Generations as one figure (<see cref="ImageFigure"/>): a row per generation with its prompt and settings, a column per
/// encoder (the teacher's own first, then the students in the order they first appear), a student's mean |Δ| to the
/// teacher under its image. A cell without an image says why (failed with its error, cancelled, not drawn yet, file
/// gone, or not an encoder of that generation).
/// </summary>
public static class GenerationFigure
{
    /// <summary>The most generations (rows) one figure holds.</summary>
    public const int MaxGenerations = 64;

    /// <summary>One column: an encoder, known by what fills the T5 slot.</summary>
    sealed record Column(int? CheckpointId, int? ModelId, string Name)
    {
        public bool Teacher => CheckpointId is null && ModelId is null;
        public bool Holds(GenerationImage image) => image.CheckpointId == CheckpointId && image.ModelId == ModelId;
    }

    /// <summary>
    /// The figure of <paramref name="generations"/> (rows in the order given, with their images) as PNG bytes.
    /// <paramref name="mayRead"/> says whether an image file may be read (the studio's artifact folders).
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
        var rows = generations.Select(g => new FigureRow(g.Prompt, Settings(g), columns.Select(c => Cell(g.Images.FirstOrDefault(c.Holds), c)).ToList())).ToList();
        return ImageFigure.Png(columns.Select(c => c.Name).ToList(), rows, mayRead);
    }

    static FigureCell Cell(GenerationImage? image, Column column) => image switch
    {
        null => new FigureCell(null, Missing: "not an encoder of this generation"),
        _ => new FigureCell(image.PngPath, Caption(image, column),
            image.Error ?? (image.State is GenerationState.Queued or GenerationState.Running ? "not drawn yet" : image.State.ToString().ToLowerInvariant())),
    };

    /// <summary>A student's |Δ| and SSIM to the teacher's image, and any image's CLIP score; null when there is none of them.</summary>
    static string? Caption(GenerationImage image, Column column)
    {
        var parts = new List<string>();
        if (image.DifferenceToTeacher is { } d && !column.Teacher)
            parts.Add($"mean |Δ| {d:0.00}/255" + (image.SimilarityToTeacher is { } ssim ? $" · SSIM {ssim:0.000}" : ""));
        if (image.ClipScore is { } clip) parts.Add($"CLIP {clip:0.00}");
        return parts.Count == 0 ? null : string.Join(" · ", parts);
    }

    static string Settings(Generation g) =>
        $"seed {g.Seed} · {g.Steps} steps · guidance {g.Guidance}" + (g.TrueCfgScale > 1 ? $" · true CFG {g.TrueCfgScale}" : "") +
        (g.LoraPath is { } lora ? $" · LoRA {Path.GetFileName(lora)} x {g.LoraScale}" : "") + $" · {g.Width}x{g.Height} · #{g.Id}";
}
