using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.ModelRegistry;

namespace Studio.Core.Tests;

/// <summary>Model folders found under the allowed roots by their marker files, for the Models page to offer.</summary>
public class ModelDiscoveryTests
{
    static string Folder(string root, string relative, string? file = null, string content = "{}")
    {
        var folder = Directory.CreateDirectory(Path.Combine(root, relative)).FullName;
        if (file is not null) File.WriteAllText(Path.Combine(folder, file), content);
        return folder;
    }

    [Fact]
    public async Task PipelinesT5FoldersAndExportsAreFoundUnregisteredOnesOnlyAndNeitherHiddenNorArtifactsNorTooDeep()
    {
        var db = await TestDatabase.CreateAsync();
        var root = Directory.CreateTempSubdirectory("studio-discovery-").FullName;
        var flux = Folder(root, "models/FLUX.1-dev", "model_index.json");
        Folder(flux, "transformer", "config.json", """{"_class_name": "FluxTransformer2DModel"}"""); // inside a pipeline: not searched
        var t5 = Folder(root, "models/flan-t5-base", "config.json", """{"model_type": "t5", "d_model": 768}""");
        var export = Folder(root, "students/base-50k", "config.json", """{"model_type": "t5", "project_out_dim": 4096}""");
        var registered = Folder(root, "models/registered", "model_index.json");
        Folder(root, "models/clip", "config.json", """{"model_type": "clip_text_model"}""");        // not a T5
        Folder(root, "models/broken", "config.json", "{ not json");
        Folder(root, ".cache/hub/FLUX.1-schnell", "model_index.json");                              // hidden
        Folder(root, "a/b/c/d/deep", "model_index.json");                                           // depth 5
        var artifacts = Folder(root, "data/artifacts");
        Folder(artifacts, "runs/run-1/checkpoints/step-10/student", "config.json", """{"model_type": "t5"}""");
        await using (var context = db.CreateDbContext())
        {
            context.Models.Add(new ModelEntry { Name = "registered", Kind = ModelKind.TeacherPipeline, Folder = registered });
            await context.SaveChangesAsync();
        }
        var service = new ModelService(db, new PathGuard(new StudioOptions { DataDirectory = Path.Combine(root, "data"), AllowedRoots = [root] }));

        var found = await service.DiscoverAsync(artifacts);

        Assert.Equal([(flux, ModelKind.TeacherPipeline), (t5, ModelKind.StudentInit), (export, ModelKind.ExportedStudent)],
            found.Select(m => (m.Folder, m.Kind)).OrderBy(m => m.Kind));
    }

    [Fact]
    public void TheWalkStopsAfterItsBudgetOfFolders()
    {
        var root = Directory.CreateTempSubdirectory("studio-discovery-budget-").FullName;
        for (var i = 0; i < 30; i++) Folder(root, $"empty-{i:00}");
        Folder(root, "zz-model", "model_index.json"); // read last in ordinal order
        Assert.Empty(ModelDiscovery.Find([root], [], maxFolders: 20));
        Assert.Single(ModelDiscovery.Find([root], []));
    }

    [Fact]
    public async Task LoraFilesAreFoundOutsideModelFoldersArtifactsAndHiddenOnesByTheirHeaders()
    {
        var db = await TestDatabase.CreateAsync();
        var root = Directory.CreateTempSubdirectory("studio-loras-").FullName;
        var top = LoraFiles.Query(Folder(root, "loras"));
        var nested = LoraFiles.Query(Folder(root, "loras/styles/ink"));
        var kohya = LoraFiles.Write(Folder(root, "loras"), ("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", [4, 32]), ("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", [96, 4]));
        LoraFiles.Query(Folder(root, "models/FLUX.1-dev", "model_index.json"));                       // inside a model folder
        LoraFiles.Query(Folder(root, ".cache"));                                                      // hidden
        var artifacts = Folder(root, "data/artifacts");
        LoraFiles.Query(artifacts);                                                                    // the studio's own
        LoraFiles.Write(Folder(root, "loras"), ("text_model.embeddings.token_embedding.weight", [8, 4])); // weights, not a LoRA
        File.WriteAllText(Path.Combine(root, "loras", "notes.safetensors"), "not a safetensors file");

        var found = ModelDiscovery.FindLoras([root], [artifacts]);
        Assert.Equal(new[] { top, kohya, nested }.Order(StringComparer.Ordinal), found.Order(StringComparer.Ordinal));
        // As Generate and Compare ask: under the allowed folders only.
        Assert.Equal([nested], await ModelDiscovery.FindLorasAsync(new StudioOptions { DataDirectory = db.Directory, AllowedRoots = [Path.Combine(root, "loras", "styles")] }));
    }
}
