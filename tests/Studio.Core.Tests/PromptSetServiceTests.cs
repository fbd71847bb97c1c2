using Microsoft.EntityFrameworkCore;
using Studio.Core.Prompts;
using Studio.Core.Runs;
using Studio.Ml.Prompts;

namespace Studio.Core.Tests;

public class PromptSetServiceTests
{
    [Fact]
    public async Task AnImportKeepsItsReportAndCategoriesCanBeAssigned()
    {
        var db = await TestDatabase.CreateAsync();
        var service = new PromptSetService(db);
        var read = PromptSetReader.Read(new MemoryStream("a cat\n\nb dog\n\n\nc cow\n"u8.ToArray()), "animals.txt", PromptFileFormat.Text);
        var set = await service.ImportAsync("animals", read);
        Assert.Equal(3, set.PromptCount);
        Assert.Equal(3, set.SkippedEmpty);
        Assert.Equal("animals.txt: 3 prompts; 3 empty, 0 too long, 0 bad lines skipped\nempty: lines 2, 4-5", set.ImportReport);
        await Assert.ThrowsAsync<RunActionException>(() => service.ImportAsync("animals", read));

        var (rows, total) = await service.RowsAsync(set.Id, 0, 10);
        Assert.Equal(3, total);
        Assert.Equal([1, 3, 6], rows.Select(r => r.LineNumber));
        await service.SetRowCategoryAsync(rows[0].Id, "text");
        Assert.Equal(2, await service.AssignCategoryAsync(set.Id, "image-quality", onlyUncategorised: true));
        Assert.Equal(new Dictionary<string, int> { ["text"] = 1, ["image-quality"] = 2 }, await service.CategoryCountsAsync(set.Id));
    }

    [Fact]
    public async Task AnImportedSetWrittenForARunReadsBackWithItsCategories()
    {
        var db = await TestDatabase.CreateAsync();
        var service = new PromptSetService(db);
        var read = PromptSetReader.Read(new MemoryStream("a \"red\" cat\nb dog\n"u8.ToArray()), "animals.txt", PromptFileFormat.Text);
        var set = await service.ImportAsync("animals", read);
        var (rows, _) = await service.RowsAsync(set.Id, 0, 10);
        await service.SetRowCategoryAsync(rows[0].Id, "semantics/colour");
        var path = Path.Combine(db.Directory, "prompt-sets", "set.jsonl");
        await service.WriteJsonlAsync(set.Id, path);

        // The run reads the file as it reads any prompt file; prompts without a category take the source's.
        var prompts = Studio.Ml.Distillation.PromptSources.Resolve(new Studio.Ml.Distillation.PromptSource { Set = path, Category = "image-quality" }, p => p);
        Assert.Equal([("a \"red\" cat", "semantics/colour"), ("b dog", "image-quality")], prompts.Select(p => (p.Text, p.Category)));
    }

    [Fact]
    public async Task BuiltInToySetsAreCreatedOnceWithScenes()
    {
        var db = await TestDatabase.CreateAsync();
        var service = new PromptSetService(db);
        await service.EnsureBuiltInAsync();
        await service.EnsureBuiltInAsync();
        var sets = await service.ListAsync();
        Assert.Equal(["toy:heldout", "toy:train:image-quality", "toy:train:semantics", "toy:train:text"], sets.Select(s => s.Name).Order());
        // The page's set is what run YAML means by the same name.
        var yaml = Studio.Ml.Distillation.PromptSources.Resolve(new Studio.Ml.Distillation.PromptSource { Set = "toy:heldout" }, p => p);
        await using (var rows = db.CreateDbContext())
        {
            var heldOut = sets.Single(s => s.Name == "toy:heldout");
            var texts = await rows.PromptRows.Where(r => r.PromptSetId == heldOut.Id).OrderBy(r => r.LineNumber).Select(r => r.Text).ToListAsync();
            Assert.Equal(yaml.Select(p => p.Text), texts);
        }
        Assert.All(sets, s => Assert.True(s.IsBuiltIn));
        await using var context = db.CreateDbContext();
        Assert.False(await context.PromptRows.AnyAsync(r => r.SceneJson == null || r.Category == null));
        await Assert.ThrowsAsync<RunActionException>(() => service.DeleteAsync(sets[0].Id));

        // Runs read the toy world's own prompts under these names: the stored copy's categories cannot drift from them.
        var builtIn = sets.Single(s => s.Name == "toy:heldout");
        long firstRow;
        string? before;
        await using (var rows = db.CreateDbContext())
            (firstRow, before) = await rows.PromptRows.Where(r => r.PromptSetId == builtIn.Id).OrderBy(r => r.LineNumber).Select(r => ValueTuple.Create(r.Id, r.Category)).FirstAsync();
        var counts = await service.CategoryCountsAsync(builtIn.Id);
        Assert.Equal("'toy:heldout' is built in: its prompts and categories are the toy world's and cannot be changed (import a copy to edit)",
            (await Assert.ThrowsAsync<RunActionException>(() => service.SetRowCategoryAsync(firstRow, "text"))).Message);
        await Assert.ThrowsAsync<RunActionException>(() => service.AssignCategoryAsync(builtIn.Id, "text", onlyUncategorised: false));
        Assert.Equal(counts, await service.CategoryCountsAsync(builtIn.Id));
        await using (var rows = db.CreateDbContext())
            Assert.Equal(before, (await rows.PromptRows.SingleAsync(r => r.Id == firstRow)).Category);
    }
}

public class TokenLengthsTests
{
    [Fact]
    public void TruncationRatesCountPromptsLongerThanEachLimit()
    {
        var lengths = new TokenLengths(null!);
        string[] texts = ["a cat", string.Join(' ', Enumerable.Repeat("a red cube", 30)), string.Join(' ', Enumerable.Repeat("a red cube", 80))];
        // The aggregation is under test: the per-prompt lengths come from the tokenizer (tested on its own goldens).
        var t5 = Studio.Ml.Text.TextTokenizer.BuiltIn("t5");
        var expected = texts.Select(t => t5.Encode(t).Length).ToArray();
        Assert.True(expected[0] < 77 && expected[1] is > 77 and < 256 && expected[2] is > 256 and < 512, string.Join(", ", expected));

        var report = lengths.Measure(texts);
        Assert.Equal(3, report.Measured);
        Assert.Equal(expected.Max(), report.Longest);
        Assert.Equal([(77, 2 / 3.0), (256, 1 / 3.0), (512, 0.0)], report.Truncated);
        Assert.Equal(3, report.Histogram.Sum(h => h.Count));
        Assert.All(expected, l => Assert.Contains(report.Histogram, h => h.From <= l && l <= h.To));
    }

    [Fact]
    public async Task AFewPromptsOfASetTakeTheCategoriesInTurn()
    {
        var db = await TestDatabase.CreateAsync();
        var service = new PromptSetService(db);
        var read = PromptSetReader.Read(new MemoryStream("a1\na2\na3\nb1\nc1\nc2\n"u8.ToArray()), "mixed.txt", PromptFileFormat.Text);
        var set = await service.ImportAsync("mixed", read);
        var (rows, _) = await service.RowsAsync(set.Id, 0, 10);
        foreach (var row in rows) await service.SetRowCategoryAsync(row.Id, row.Text[..1]);

        Assert.Equal(["a1", "b1", "c1", "a2"], await service.PickAsync(set.Id, 4));
        Assert.Equal(["a1", "b1", "c1", "a2", "c2", "a3"], await service.PickAsync(set.Id, 64)); // all there are
        Assert.Equal(["a1"], await service.PickAsync(set.Id, 1));
        await Assert.ThrowsAsync<RunActionException>(() => service.PickAsync(set.Id, 0));
        Assert.Equal("no prompt set 999", (await Assert.ThrowsAsync<RunActionException>(() => service.PickAsync(999, 3))).Message);
    }

    [Fact]
    public async Task AFewPromptsOfAnUncategorisedSetAreItsFirstLines()
    {
        var db = await TestDatabase.CreateAsync();
        var service = new PromptSetService(db);
        var set = await service.ImportAsync("plain", PromptSetReader.Read(new MemoryStream("p1\np2\np3\n"u8.ToArray()), "plain.txt", PromptFileFormat.Text));
        Assert.Equal(["p1", "p2"], await service.PickAsync(set.Id, 2));
    }
}
