using Bunit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.ModelRegistry;
using Studio.Web.Auth;
using Studio.Web.Components.Pages;

namespace Studio.Web.Tests;

/// <summary>The Models page: researchers find and register model folders; viewers only read the list.</summary>
public class ModelsPageTests
{
    static async Task<(BunitContext Context, IDbContextFactory<StudioDbContext> Db, string Root)> ContextAsync(bool researcher)
    {
        var root = Directory.CreateTempSubdirectory("studio-web-models-").FullName;
        var data = Directory.CreateDirectory(Path.Combine(root, "data")).FullName;
        var db = TestStudioDb.Create(data);
        var options = new StudioOptions { DataDirectory = data, AllowedRoots = [root] };
        var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        ctx.Services.AddSingleton(options);
        ctx.Services.AddSingleton(new PathGuard(options));
        var models = new ModelService(db, new PathGuard(options));
        await models.EnsureBuiltInAsync();
        ctx.Services.AddSingleton(models);
        var auth = ctx.AddAuthorization();
        auth.SetAuthorized(researcher ? "rhea" : "vera");
        if (researcher) auth.SetPolicies(StudioRoles.CanChange);
        return (ctx, db, root);
    }

    [Fact]
    public async Task AResearcherFindsAT5FolderAndRegistersIt()
    {
        var (ctx, db, root) = await ContextAsync(researcher: true);
        await using var _ = ctx;
        var t5 = Directory.CreateDirectory(Path.Combine(root, "models", "flan-t5-base")).FullName;
        File.WriteAllText(Path.Combine(t5, "config.json"), """{"model_type": "t5"}""");
        File.WriteAllText(Path.Combine(t5, "spiece.model"), "");
        // One float32 weight in the safetensors layout (8-byte header length, JSON header, data): a folder with weights.
        var header = System.Text.Encoding.UTF8.GetBytes("""{"shared.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""");
        File.WriteAllBytes(Path.Combine(t5, "model.safetensors"), [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0, 128, 63]);
        var cut = ctx.Render<Models>();
        // What a viewer must not see is there for a researcher (so the viewer test's selectors find real buttons).
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("button[aria-label='Check again']")), TimeSpan.FromSeconds(15));

        cut.Find("[data-testid=model-discover]").Click();
        cut.WaitForAssertion(() => Assert.Contains(t5, cut.Find("[data-testid=model-discovered]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Contains("student initialisation", cut.Find("[data-testid=model-discovered]").TextContent);

        cut.Find("[data-testid=model-discovered-register]").Click();
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=model-discovered]")), TimeSpan.FromSeconds(15));
        await using var check = db.CreateDbContext();
        var entry = await check.Models.SingleAsync(m => m.Folder == t5);
        Assert.Equal(("flan-t5-base", ModelKind.StudentInit), (entry.Name, entry.Kind));
        Assert.Contains("flan-t5-base", cut.Find("[data-testid=models-table]").TextContent);
    }

    [Fact]
    public async Task AViewerSeesTheModelsButCannotRegisterCheckOrForgetThem()
    {
        var (ctx, _, _) = await ContextAsync(researcher: false);
        await using var _ = ctx;
        var cut = ctx.Render<Models>();
        cut.WaitForAssertion(() => Assert.Contains(ModelFolders.ToyTeacherName, cut.Find("[data-testid=models-table]").TextContent), TimeSpan.FromSeconds(15));
        Assert.Empty(cut.FindAll("[data-testid=model-register]"));
        Assert.Empty(cut.FindAll("[data-testid=model-discover]"));
        Assert.Empty(cut.FindAll("button[aria-label='Check again'], button[aria-label=Unregister]"));
    }
}
