using Bunit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.Prompts;
using Studio.Ml.Prompts;
using Studio.Web.Auth;
using Studio.Web.Components.Pages;

namespace Studio.Web.Tests;

/// <summary>The Prompt sets page: researchers import, categorise and delete; viewers read.</summary>
public class PromptSetsPageTests
{
    static async Task<BunitContext> ContextAsync(bool researcher)
    {
        var data = Directory.CreateTempSubdirectory("studio-web-promptsets-").FullName;
        var db = TestStudioDb.Create(data);
        var service = new PromptSetService(db);
        await service.ImportAsync("animals", PromptSetReader.Read(new MemoryStream("a cat\n\nb dog\n"u8.ToArray()), "animals.txt", PromptFileFormat.Text));
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        ctx.Services.AddSingleton<IDbContextFactory<StudioDbContext>>(db);
        ctx.Services.AddSingleton(service);
        ctx.Services.AddSingleton(new TokenLengths(db));
        ctx.Services.AddSingleton(new PathGuard(new StudioOptions { DataDirectory = data }));
        var auth = ctx.AddAuthorization();
        auth.SetAuthorized(researcher ? "rhea" : "vera");
        if (researcher) auth.SetPolicies(StudioRoles.CanChange);
        return ctx;
    }

    static IRenderedComponent<PromptSets> OpenAnimals(BunitContext ctx)
    {
        var cut = ctx.Render<PromptSets>();
        cut.WaitForAssertion(() => Assert.Contains("animals", cut.Find("[data-testid=prompt-sets-table]").TextContent), TimeSpan.FromSeconds(15));
        cut.FindAll("[data-testid=prompt-sets-table] tbody tr").Single(r => r.TextContent.Contains("animals")).Click();
        cut.WaitForAssertion(() => Assert.Contains("b dog", cut.Find("[data-testid=prompt-rows]").TextContent), TimeSpan.FromSeconds(15));
        return cut;
    }

    [Fact]
    public async Task AViewerReadsASetButCannotImportCategoriseOrDelete()
    {
        await using var ctx = await ContextAsync(researcher: false);
        var cut = OpenAnimals(ctx);
        Assert.Empty(cut.FindAll("[data-testid=import-file]"));
        Assert.Empty(cut.FindAll("[data-testid=prompt-assign]"));
        Assert.Empty(cut.FindAll("button[aria-label='Delete set']"));
        Assert.Empty(cut.FindAll("[data-testid=prompt-rows] tbody .mud-select"));
        Assert.Contains("needs the researcher role", cut.Markup);
        // The empty line the import skipped is said under the set's count.
        var animals = cut.FindAll("[data-testid=prompt-sets-table] tbody tr").Single(r => r.TextContent.Contains("animals"));
        var count = animals.QuerySelector("[data-testid=prompt-set-count]")!;
        Assert.Equal("1 skipped", count.QuerySelector(".mud-typography-caption")!.TextContent.Trim());
        Assert.StartsWith("2", count.TextContent.Trim());
    }

    [Fact]
    public async Task ABuiltInSetOffersNoCategoryEditingEvenToAResearcher()
    {
        await using var ctx = await ContextAsync(researcher: true);
        await ctx.Services.GetRequiredService<PromptSetService>().EnsureBuiltInAsync();
        var cut = ctx.Render<PromptSets>();
        cut.WaitForAssertion(() => Assert.Contains("toy:heldout", cut.Find("[data-testid=prompt-sets-table]").TextContent), TimeSpan.FromSeconds(15));
        cut.FindAll("[data-testid=prompt-sets-table] tbody tr").Single(r => r.TextContent.Contains("toy:heldout")).Click();
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("[data-testid=prompt-rows] tbody tr")), TimeSpan.FromSeconds(15));
        Assert.Empty(cut.FindAll("[data-testid=prompt-assign]"));
        Assert.Empty(cut.FindAll("[data-testid=prompt-rows] tbody .mud-select"));
        Assert.Empty(cut.FindAll("button[aria-label='Delete set']"));
        Assert.Contains("image-quality", cut.Find("[data-testid=prompt-rows] tbody").TextContent);
    }

    [Fact]
    public async Task AResearcherHasTheImportTheCategoriesAndDelete()
    {
        await using var ctx = await ContextAsync(researcher: true);
        var cut = OpenAnimals(ctx);
        Assert.NotEmpty(cut.FindAll("[data-testid=import-file]"));
        Assert.Single(cut.FindAll("[data-testid=prompt-assign]"));
        Assert.Single(cut.FindAll("button[aria-label='Delete set']"));
        Assert.NotEmpty(cut.FindAll("[data-testid=prompt-rows] tbody .mud-select"));
    }
}
