using Studio.Ml.Distillation;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Runs;
using Studio.Ml.Prompts;
using Studio.Ml.Toy;

namespace Studio.Core.Prompts;

/// <summary>Imports prompt files into named sets, assigns categories, and keeps the built-in toy sets.</summary>
public class PromptSetService(IDbContextFactory<StudioDbContext> dbFactory)
{
    /// <summary>Uploads larger than this are refused (the reader enforces it while reading).</summary>
    public const long MaxUploadBytes = 32L * 1024 * 1024;
    public const int BuiltInTrainCount = 500;
    /// <summary>The built-in held-out set, named as in run YAML (`toy:heldout`).</summary>
    public const string HeldOutSetName = "toy:heldout";
    const int MaxReportLines = 200;

    public static PromptReadOptions ReadOptions(string? defaultCategory = null) =>
        new() { MaxFileBytes = MaxUploadBytes, DefaultCategory = string.IsNullOrWhiteSpace(defaultCategory) ? null : defaultCategory.Trim() };

    /// <summary>Stores what a reader read as a new set, with the import report (every skipped line by number).</summary>
    public async Task<PromptSet> ImportAsync(string name, PromptSetReadResult read, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new RunActionException("a prompt set needs a name");
        if (read.Prompts.Count == 0) throw new RunActionException($"{read.Summary}: nothing to import");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (await db.PromptSets.AnyAsync(s => s.Name == name.Trim(), ct)) throw new RunActionException($"a prompt set named '{name.Trim()}' exists already");
        var set = new PromptSet
        {
            Name = name.Trim(), Source = Path.GetFileName(read.Source), Format = read.Format.ToString(),
            PromptCount = read.Prompts.Count, SkippedEmpty = read.EmptyLines.Count, SkippedTooLong = read.TooLongLines.Count,
            BadLines = read.BadLines.Count, ImportReport = Report(read),
            Rows = read.Prompts.Select(p => new PromptRow { LineNumber = p.LineNumber, Text = p.Text, Category = p.Category }).ToList(),
        };
        db.PromptSets.Add(set);
        await db.SaveChangesAsync(ct);
        return set;
    }

    /// <summary>The import report a person reads: the summary, then skipped lines by number (the first few hundred).</summary>
    public static string Report(PromptSetReadResult read)
    {
        var lines = new List<string> { read.Summary };
        if (read.EmptyLines.Count > 0) lines.Add($"empty: lines {Ranges(read.EmptyLines)}");
        if (read.TooLongLines.Count > 0) lines.Add($"too long: lines {Ranges(read.TooLongLines)}");
        lines.AddRange(read.BadLines.Take(MaxReportLines).Select(b => b.ToString()));
        if (read.BadLines.Count > MaxReportLines) lines.Add($"... and {read.BadLines.Count - MaxReportLines} more bad lines");
        return string.Join('\n', lines);
    }

    /// <summary>"3, 7-9, 12": line numbers as ranges.</summary>
    public static string Ranges(IReadOnlyList<int> numbers)
    {
        var parts = new List<string>();
        for (int i = 0; i < numbers.Count;)
        {
            int j = i;
            while (j + 1 < numbers.Count && numbers[j + 1] == numbers[j] + 1) j++;
            parts.Add(i == j ? $"{numbers[i]}" : $"{numbers[i]}-{numbers[j]}");
            i = j + 1;
        }
        return string.Join(", ", parts);
    }

    public async Task<List<PromptSet>> ListAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.PromptSets.AsNoTracking().OrderByDescending(s => s.IsBuiltIn).ThenBy(s => s.Name).ToListAsync(ct);
    }

    public async Task<(List<PromptRow> Rows, int Total)> RowsAsync(int setId, int skip, int take, string? search = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.PromptRows.AsNoTracking().Where(r => r.PromptSetId == setId);
        if (!string.IsNullOrWhiteSpace(search)) query = query.Where(r => EF.Functions.Like(r.Text, $"%{search}%"));
        return (await query.OrderBy(r => r.LineNumber).Skip(skip).Take(take).ToListAsync(ct), await query.CountAsync(ct));
    }

    /// <summary>
    /// Writes a set as JSONL (`{"text", "category"}` per line, in line order) to <paramref name="path"/>, atomically, so a
    /// run YAML can name it as a prompt file; the current categories go with it.
    /// </summary>
    public async Task WriteJsonlAsync(int setId, string path, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = await db.PromptRows.AsNoTracking().Where(r => r.PromptSetId == setId).OrderBy(r => r.LineNumber).ToListAsync(ct);
        if (rows.Count == 0) throw new RunActionException($"prompt set {setId} holds no prompts");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var lines = rows.Select(r => JsonSerializer.Serialize(new { text = r.Text, category = r.Category }));
        Studio.Ml.Tensors.AtomicFile.WriteAllText(path, string.Join('\n', lines) + "\n");
    }

    /// <summary>
    /// Up to <paramref name="count"/> prompts of a set for a quick look (Generate's "Prompts from a set"): the
    /// categories in turn, in the order they first appear, each in line order, so a few prompts already cover them all.
    /// </summary>
    public async Task<List<string>> PickAsync(int setId, int count, CancellationToken ct = default)
    {
        if (count < 1) throw new RunActionException($"count: {count} must be at least 1");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (!await db.PromptSets.AnyAsync(s => s.Id == setId, ct)) throw RunActionException.Missing($"prompt set {setId}");
        // A set can hold hundreds of thousands of prompts: read only the first `count` of its first `count` categories.
        var rows = db.PromptRows.AsNoTracking().Where(r => r.PromptSetId == setId);
        var categories = await rows.GroupBy(r => r.Category).Select(g => new { g.Key, First = g.Min(r => r.LineNumber) })
            .OrderBy(c => c.First).Take(count).Select(c => c.Key).ToListAsync(ct);
        var queues = new List<Queue<string>>();
        foreach (var category in categories)
            queues.Add(new Queue<string>(await rows.Where(r => r.Category == category).OrderBy(r => r.LineNumber).Take(count).Select(r => r.Text).ToListAsync(ct)));
        var picked = new List<string>();
        while (picked.Count < count && queues.Any(q => q.Count > 0))
            foreach (var queue in queues.Where(q => q.Count > 0))
                if (picked.Count < count) picked.Add(queue.Dequeue());
        return picked;
    }

    /// <summary>Prompt counts by category (null: uncategorised).</summary>
    public async Task<Dictionary<string, int>> CategoryCountsAsync(int setId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.PromptRows.Where(r => r.PromptSetId == setId).GroupBy(r => r.Category ?? "")
            .Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, ct);
    }

    /// <summary>Sets the category of every prompt of a set (or only of those without one); returns how many changed.</summary>
    public async Task<int> AssignCategoryAsync(int setId, string? category, bool onlyUncategorised, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var set = await db.PromptSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == setId, ct) ?? throw RunActionException.Missing($"prompt set {setId}");
        RefuseBuiltIn(set);
        var value = string.IsNullOrWhiteSpace(category) ? null : category.Trim();
        var rows = db.PromptRows.Where(r => r.PromptSetId == setId);
        if (onlyUncategorised) rows = rows.Where(r => r.Category == null);
        return await rows.ExecuteUpdateAsync(u => u.SetProperty(r => r.Category, value), ct);
    }

    public async Task SetRowCategoryAsync(long rowId, string? category, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var setId = await db.PromptRows.Where(r => r.Id == rowId).Select(r => (int?)r.PromptSetId).SingleOrDefaultAsync(ct)
                    ?? throw new RunActionException($"no prompt {rowId}");
        RefuseBuiltIn(await db.PromptSets.AsNoTracking().SingleAsync(s => s.Id == setId, ct));
        var value = string.IsNullOrWhiteSpace(category) ? null : category.Trim();
        await db.PromptRows.Where(r => r.Id == rowId).ExecuteUpdateAsync(u => u.SetProperty(r => r.Category, value), ct);
    }

    /// <summary>A built-in set is the toy world's own prompts: runs read them from the toy world, so the stored copy stays as it is.</summary>
    static void RefuseBuiltIn(PromptSet set)
    {
        if (set.IsBuiltIn) throw new RunActionException($"'{set.Name}' is built in: its prompts and categories are the toy world's and cannot be changed (import a copy to edit)");
    }

    public async Task DeleteAsync(int setId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var set = await db.PromptSets.SingleOrDefaultAsync(s => s.Id == setId, ct) ?? throw RunActionException.Missing($"prompt set {setId}");
        if (set.IsBuiltIn) throw new RunActionException($"'{set.Name}' is built in and cannot be deleted");
        db.PromptSets.Remove(set);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>
    /// The built-in sets: the toy world's seeded prompts (with the scene each describes) per criterion for training,
    /// and its fixed held-out set. Generated, not copied from any dataset; created once.
    /// </summary>
    public async Task EnsureBuiltInAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // The held-out set was once called toy:held-out; YAML and the run form say toy:heldout.
        foreach (var renamed in await db.PromptSets.Where(s => s.IsBuiltIn && s.Name == "toy:held-out").ToListAsync(ct)) renamed.Name = HeldOutSetName;
        await db.SaveChangesAsync(ct);
        var existing = await db.PromptSets.Where(s => s.IsBuiltIn).Select(s => s.Name).ToListAsync(ct);
        var sets = new List<(string Name, string Description, IReadOnlyList<ToyPrompt> Prompts)>();
        foreach (var criterion in new[] { ToyCriteria.ImageQuality, ToyCriteria.Semantics, ToyCriteria.Text })
            sets.Add(($"toy:train:{criterion}", $"Toy world, {criterion} prompts for training (seed 1, {BuiltInTrainCount})",
                ToyPrompts.Generate(criterion, BuiltInTrainCount, 1, ToySplit.Train)));
        sets.Add((HeldOutSetName, $"Toy world, the fixed held-out prompts of every category ({ToyWorld.HeldOutCount}, as toy:heldout in run YAML)",
            ToyPrompts.HeldOut(ToyCriteria.All, ToyWorld.HeldOutCount)));
        foreach (var (name, description, prompts) in sets.Where(s => !existing.Contains(s.Name)))
            db.PromptSets.Add(new PromptSet
            {
                Name = name, Description = description, Source = "built-in", Format = "toy", IsBuiltIn = true,
                PromptCount = prompts.Count, ImportReport = $"generated: {prompts.Count} prompts",
                Rows = prompts.Select((p, i) => new PromptRow
                {
                    LineNumber = i + 1, Text = p.Text, Category = p.Category, SceneJson = JsonSerializer.Serialize(p.Scene, ToyJson.Options),
                }).ToList(),
            });
        await db.SaveChangesAsync(ct);
    }
}
