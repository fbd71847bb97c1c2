using Hangfire;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Studio.Core;
using Studio.Core.Data;
using Studio.Core.Hosting;
using Studio.Core.ModelRegistry;
using Studio.Ml.Distillation;
using Studio.Web.Api;
using Studio.Web.Auth;

namespace Studio.Web.Tests.BadInput;

/// <summary>
/// The studio's HTTP API on a loopback port, wired as Program.cs wires it (core services, auth without logins, the API
/// and its error answers), with jobs recorded instead of queued. Folders: ROOT (Studio:AllowedRoots) holds the data
/// directory; OUTSIDE lies beside it, reachable from ROOT only through the link ROOT/data/escape. Seeded: the built-in
/// toy teacher (model 1), a completed run with checkpoints 1-3, and a failed run whose configuration can never run.
/// </summary>
public sealed class ApiHost : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("studio-api-root-").FullName;
    public string Outside { get; } = Directory.CreateTempSubdirectory("studio-api-outside-").FullName;
    public string Data => Path.Combine(Root, "data");
    internal RecordingJobs Jobs { get; } = new();
    public HttpClient Http { get; private set; } = null!;
    public IServiceProvider Services => _app!.Services;
    public IDbContextFactory<StudioDbContext> Db => _app!.Services.GetRequiredService<IDbContextFactory<StudioDbContext>>();
    public StudioOptions Options { get; private set; } = null!;
    public int CompletedRun { get; private set; }
    public int NeverRunsRun { get; private set; }
    public int Checkpoint { get; private set; }
    WebApplication? _app;

    public static string ToyYaml(Action<RunConfig>? edit = null)
    {
        var config = RunPresets.Find("toy").Create();
        edit?.Invoke(config);
        return config.ToYaml();
    }

    /// <summary>A corpus text with the placeholders filled in.</summary>
    public string Fill(string text) => text
        .Replace("{outsideName}", Path.GetFileName(Outside)).Replace("{outside}", Outside).Replace("{root}", Root).Replace("{data}", Data)
        .Replace("{checkpoint}", Checkpoint.ToString()).Replace("{completed}", CompletedRun.ToString()).Replace("{never}", NeverRunsRun.ToString())
        .Replace("{sd3teacher}", Sd3Teacher.ToString());

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Data);
        // The prompt files of the corpus, a folder named like one, and links out of the allowed folders.
        var prompts = Directory.CreateDirectory(Path.Combine(Data, "prompts")).FullName;
        foreach (var (name, bytes) in BadInputCorpus.PromptFiles) File.WriteAllBytes(Path.Combine(prompts, name), bytes);
        Directory.CreateDirectory(Path.Combine(prompts, "a-folder.txt"));
        File.WriteAllText(Path.Combine(Outside, "prompts.txt"), "a red cube left of a blue sphere\n");
        Directory.CreateSymbolicLink(Path.Combine(Data, "escape"), Outside);
        Directory.CreateSymbolicLink(Path.Combine(Data, "escape-twice"), Path.Combine(Data, "escape"));
        File.CreateSymbolicLink(Path.Combine(Data, "dangling"), Path.Combine(Outside, "not-there-yet"));
        // FLUX teacher folders with one config damaged (each holds every part a run checks for).
        foreach (var (name, file, text) in BadInputCorpus.DamagedTeachers)
        {
            var folder = Path.Combine(Data, "damaged", name);
            void Write(string part, string json) { Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(folder, part))!); File.WriteAllText(Path.Combine(folder, part), json); }
            Write("model_index.json", """{"_class_name": "FluxPipeline"}""");
            Write("transformer/config.json", """{"in_channels": 64, "num_layers": 1, "num_single_layers": 1, "attention_head_dim": 16, "num_attention_heads": 2, "joint_attention_dim": 64, "pooled_projection_dim": 32, "guidance_embeds": true, "axes_dims_rope": [4, 6, 6]}""");
            Write("text_encoder_2/config.json", """{"model_type": "t5", "vocab_size": 32128, "d_model": 64, "d_kv": 8, "num_heads": 2, "d_ff": 32, "num_layers": 1, "feed_forward_proj": "gated-gelu"}""");
            foreach (var tokenizerFile in Directory.GetFiles(Studio.Ml.Text.TextTokenizer.BuiltInFolder("t5")))
            {
                Directory.CreateDirectory(Path.Combine(folder, "tokenizer_2"));
                File.Copy(tokenizerFile, Path.Combine(folder, "tokenizer_2", Path.GetFileName(tokenizerFile)));
            }
            Write(file, text);
        }
        Options = new StudioOptions { DataDirectory = Data, AllowedRoots = [Root], Auth = "off", InProcessWorker = false };
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddStudioCore(Options);
        builder.Services.AddSingleton<IBackgroundJobClient>(Jobs);
        builder.Services.AddSingleton<Studio.Core.Queue.QueueStatus>();
        builder.AddStudioAuth(Options);
        builder.Services.AddStudioApi();
                _app = builder.Build();
        await _app.Services.MigrateStudioDatabaseAsync();
        await _app.Services.GetRequiredService<ModelService>().EnsureBuiltInAsync();
        _app.UseAuthentication();
        _app.UseAuthorization();
        _app.UseStudioApiErrors();
        _app.MapStudioApi();
        await _app.StartAsync();
        var url = _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Http = new HttpClient { BaseAddress = new Uri(url) };

        await using var db = await Db.CreateDbContextAsync();
        var completed = new Run { Name = "seeded", ConfigYaml = ToyYaml(), Queue = "default", State = RunState.Completed };
        var never = new Run { Name = "never runs", ConfigYaml = "optimizer:\n  lr: fast\n", Queue = "default", State = RunState.Failed, Error = "run configuration: ..." };
        db.Runs.AddRange(completed, never);
        await db.SaveChangesAsync();
        foreach (var step in new[] { 100, 200, 300 })
            db.Checkpoints.Add(new CheckpointEntry { RunId = completed.Id, Step = step, Path = Directory.CreateDirectory(Path.Combine(Options.ArtifactRoot, "runs", $"run-{completed.Id}", $"step-{step}")).FullName });
        await db.SaveChangesAsync();
        (CompletedRun, NeverRunsRun, Checkpoint) = (completed.Id, never.Id, await db.Checkpoints.MinAsync(c => c.Id));
        // A registered SD3 teacher (its model_index.json is what the studio reads of it).
        var sd3 = Directory.CreateDirectory(Path.Combine(Data, "sd3-teacher")).FullName;
        File.WriteAllText(Path.Combine(sd3, "model_index.json"), """{"_class_name": "StableDiffusion3Pipeline"}""");
        var sd3Teacher = new ModelEntry { Name = "sd3", Kind = ModelKind.TeacherPipeline, Folder = sd3, Architecture = "StableDiffusion3Pipeline" };
        db.Models.Add(sd3Teacher);
        await db.SaveChangesAsync();
        Sd3Teacher = sd3Teacher.Id;
    }

    /// <summary>The id of the registered SD3 teacher pipeline ({sd3teacher}).</summary>
    public int Sd3Teacher { get; private set; }

    /// <summary>What a refused request must leave as it was: queued jobs, rows, and the files under the data directory (the databases aside).</summary>
    public async Task<string> StateAsync()
    {
        await using var db = await Db.CreateDbContextAsync();
        var files = Directory.EnumerateFileSystemEntries(Data, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).Contains(".db") && !f.Contains("keys"))
            .Order();
        return $"jobs {Jobs.Created.Count}; runs {await db.Runs.CountAsync()} ({string.Join(",", db.Runs.Select(r => r.State))}); " +
               $"checkpoints {await db.Checkpoints.CountAsync()}; generations {await db.Generations.CountAsync()}; " +
               $"evaluations {await db.Evaluations.CountAsync()}; models {await db.Models.CountAsync()}; events {await db.RunEvents.CountAsync()}; " +
               $"files {string.Join(",", files)}";
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null) await _app.DisposeAsync();
    }
}
