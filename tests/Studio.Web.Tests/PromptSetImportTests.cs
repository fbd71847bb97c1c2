using Bunit;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Prompts;
using Studio.Web.Components.Prompts;

namespace Studio.Web.Tests;

public class PromptSetImportTests
{
    static BunitContext NewContext(string dataDirectory)
    {
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        var options = new DbContextOptionsBuilder<StudioDbContext>().UseSqlite($"Data Source={Path.Combine(dataDirectory, "studio.db")}").Options;
        ctx.Services.AddSingleton<IDbContextFactory<StudioDbContext>>(new PooledDbContextFactory<StudioDbContext>(options));
        ctx.Services.AddSingleton<PromptSetService>();
        ctx.Services.AddSingleton(new PathGuard(new StudioOptions { DataDirectory = dataDirectory }));
        return ctx;
    }

    [Fact]
    public async Task AnUploadShowsEveryBadEmptyAndOverLongLineByNumber()
    {
        var data = Directory.CreateTempSubdirectory("studio-web-import-").FullName;
        await using var ctx = NewContext(data);
        var cut = ctx.Render<PromptSetImport>();
        var jsonl = "{\"text\": \"a red cube\", \"category\": \"semantics/colour\"}\n{oops\n\n{\"text\": \"" + new string('x', 5000) + "\"}\n{\"caption\": \"a dog\"}\n{\"words\": \"no text\"}\n";
        cut.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText(jsonl, "mixed.jsonl"));

        cut.WaitForAssertion(() => Assert.Contains("mixed.jsonl: 2 prompts; 1 empty, 1 too long, 2 bad lines skipped", cut.Find("[data-testid=import-summary]").TextContent), TimeSpan.FromSeconds(20));
        Assert.Equal(["2", "6"], cut.FindAll("[data-testid=import-bad-lines] li").Select(li => li.GetAttribute("data-line")));
        Assert.Contains("not valid JSON", cut.FindAll("[data-testid=import-bad-lines] li")[0].TextContent);
        Assert.Contains("lines 3", cut.Find("[data-testid=import-empty]").TextContent);
        Assert.Contains("lines 4", cut.Find("[data-testid=import-too-long]").TextContent);
        var preview = cut.Find("[data-testid=import-preview]").TextContent;
        Assert.Contains("a red cube", preview);
        Assert.Contains("a dog", preview);
    }

    [Fact]
    public async Task AnUnreadableFileIsReportedNotImported()
    {
        var data = Directory.CreateTempSubdirectory("studio-web-import-").FullName;
        await using var ctx = NewContext(data);
        var cut = ctx.Render<PromptSetImport>();
        cut.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText("id,words\n1,hello\n", "prompts.csv"));
        cut.WaitForAssertion(() => Assert.Contains("prompts.csv: the first line must be a header naming a text column", cut.Find("[data-testid=import-error]").TextContent), TimeSpan.FromSeconds(20));
        Assert.Empty(cut.FindAll("[data-testid=import-confirm]"));

        cut.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText("x", "prompts.parquet"));
        cut.WaitForAssertion(() => Assert.Contains("unknown prompt file type '.parquet'", cut.Find("[data-testid=import-error]").TextContent), TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task APathOutsideTheAllowedFoldersIsRefused()
    {
        var data = Directory.CreateTempSubdirectory("studio-web-import-").FullName;
        await using var ctx = NewContext(data);
        var cut = ctx.Render<PromptSetImport>();
        cut.Find("input[data-testid=import-path], [data-testid=import-path] input").Input(Path.Combine(data, "..", "elsewhere.txt"));
        // The field updates as typed; on a loaded machine the button may become enabled a moment later.
        cut.WaitForAssertion(() => Assert.False(ReadButton(cut).HasAttribute("disabled")), TimeSpan.FromSeconds(20));
        ReadButton(cut).Click();
        cut.WaitForAssertion(() => Assert.Contains("outside the allowed folders", cut.Find("[data-testid=import-error]").TextContent), TimeSpan.FromSeconds(20));
    }

    static AngleSharp.Dom.IElement ReadButton(IRenderedComponent<PromptSetImport> cut) =>
        cut.FindAll("button").Single(b => b.TextContent.Trim() == "Read");
}
