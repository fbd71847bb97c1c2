using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Ml.Text;

namespace Studio.Core.Prompts;

/// <summary>How long a set's prompts are in T5 tokens (with the end-of-sequence token), and how many a limit would cut.</summary>
public sealed record TokenLengthReport(int Prompts, int Measured, IReadOnlyList<(int From, int To, int Count)> Histogram,
    IReadOnlyList<(int Limit, double Fraction)> Truncated, int Longest);

/// <summary>Token-length statistics of prompt sets with the studio's built-in T5 tokenizer.</summary>
public class TokenLengths(IDbContextFactory<StudioDbContext> dbFactory)
{
    /// <summary>The limits the paper and the pipelines use: CLIP-like 77, FLUX.1-schnell 256, FLUX.1-dev 512.</summary>
    public static readonly int[] Limits = [77, 256, 512];
    /// <summary>At most this many prompts (evenly spaced) are tokenized for one report.</summary>
    public const int MaxMeasured = 5000;

    readonly Lazy<TextTokenizer> _t5 = new(() => TextTokenizer.BuiltIn("t5"));

    public async Task<TokenLengthReport> MeasureAsync(int setId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var texts = await db.PromptRows.AsNoTracking().Where(r => r.PromptSetId == setId).OrderBy(r => r.LineNumber).Select(r => r.Text).ToListAsync(ct);
        return await Task.Run(() => Measure(texts), ct);
    }

    public TokenLengthReport Measure(IReadOnlyList<string> texts)
    {
        var stride = Math.Max(1, (texts.Count + MaxMeasured - 1) / MaxMeasured);
        var lengths = new List<int>();
        for (int i = 0; i < texts.Count; i += stride) lengths.Add(_t5.Value.Encode(texts[i]).Length);
        if (lengths.Count == 0) return new TokenLengthReport(texts.Count, 0, [], Limits.Select(l => (l, 0.0)).ToList(), 0);
        var longest = lengths.Max();
        // Bins of 8 tokens up to the longest prompt (at most 64 bins).
        var width = Math.Max(8, (int)Math.Ceiling((longest + 1) / 64.0 / 8) * 8);
        var histogram = lengths.GroupBy(l => l / width).OrderBy(g => g.Key).Select(g => (g.Key * width, g.Key * width + width - 1, g.Count())).ToList();
        var truncated = Limits.Select(limit => (limit, lengths.Count(l => l > limit) / (double)lengths.Count)).ToList();
        return new TokenLengthReport(texts.Count, lengths.Count, histogram, truncated, longest);
    }
}
