using Microsoft.EntityFrameworkCore;
using Studio.Core.Prompts;
using Studio.Core.Runs;
using Studio.Ml.Data;

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
    public async Task BuiltInToySetsAreCreatedOnceWithScenes()
    {
        var db = await TestDatabase.CreateAsync();
        var service = new PromptSetService(db);
        await service.EnsureBuiltInAsync();
        await service.EnsureBuiltInAsync();
        var sets = await service.ListAsync();
        Assert.Equal(["toy:held-out", "toy:train:image-quality", "toy:train:semantics", "toy:train:text"], sets.Select(s => s.Name).Order());
        Assert.All(sets, s => Assert.True(s.IsBuiltIn));
        await using var context = db.CreateDbContext();
        Assert.False(await context.PromptRows.AnyAsync(r => r.SceneJson == null || r.Category == null));
        await Assert.ThrowsAsync<RunActionException>(() => service.DeleteAsync(sets[0].Id));
    }
}
