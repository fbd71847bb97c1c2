using Bunit;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Studio.Core.Live;
using Studio.Core.Queue;
using Studio.Core.Data;
using Studio.Web.Components.Pages;

namespace Studio.Web.Tests;

/// <summary>The Workers page: each Hangfire server by a readable name, what it computes on and with, live from the pulse.</summary>
public class WorkersPageTests
{
    [Theory]
    [InlineData("web:vm:15012:3899e9e6-639c-49c3-af21-dcda20908612", "web:vm:15012", "3899e9e6")]
    [InlineData("worker:gpu-node-2:cuda:0:interactive:881:01b67c21-b8fd-4e0e-82a8-f8805de532bb", "worker:gpu-node-2:cuda:0:interactive:881", "01b67c21")]
    [InlineData("node:7", "node:7", null)]
    [InlineData("gpu-1:not-a-guid", "gpu-1:not-a-guid", null)]
    public void AServerIdIsShownAsItsNameAndTheStartOfItsGuid(string id, string name, string? instance) =>
        Assert.Equal((name, instance), WorkerInfo.ServerName(id));

    [Theory]
    [InlineData("web:vm:15012:3899e9e6-639c-49c3-af21-dcda20908612", "web:vm:15012")]
    [InlineData("web:vm:15012:interactive:01b67c21-b8fd-4e0e-82a8-f8805de532bb", "web:vm:15012")]
    [InlineData("worker:gpu-node-2:cuda0:881:interactive", "worker:gpu-node-2:cuda0:881")]
    [InlineData("node:7", "node:7")]
    public void AProcesssSecondServerForGenerationsIsTheSameWorker(string id, string process) =>
        Assert.Equal(process, WorkerInfo.Process(id));

    [Fact]
    public async Task EachWorkerShowsItsNameItsDeviceAndItsClipModel()
    {
        var data = Directory.CreateTempSubdirectory("studio-web-workers-").FullName;
        await using var ctx = new BunitContext();
        ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        ctx.Services.AddMudServices();
        ctx.Services.AddSingleton(new QueueStatus(new SQLiteStorage(Path.Combine(data, "hangfire.db")), TestStudioDb.Create(data)));
        var pulse = new PulseFeed();
        ctx.Services.AddSingleton(pulse);
        var cut = ctx.Render<Workers>();

        var now = DateTime.UtcNow;
        WorkerInfo[] workers =
        [
            new("worker:gpu-node-2:cuda:0:3899e9e6-639c-49c3-af21-dcda20908612", ["default", "gpu"], 1, now, now, true,
                new WorkerDevice("AMD EPYC", 16, 128L << 30, "NVIDIA H100", 80L << 30, 20L << 30, "cuda:0", "bfloat16", "/models/clip-vit-large-patch14")),
            new("web:vm:15012:01b67c21-b8fd-4e0e-82a8-f8805de532bb", ["interactive"], 1, now, now, true,
                new WorkerDevice("AMD EPYC", 2, 24L << 30, null, null, null, "cpu", "float32")),
            new("worker:gpu-node-3:cuda:0:5c0ffee0-639c-49c3-af21-dcda20908612", ["gpu"], 1, now.AddHours(-1), now.AddMinutes(-5), false,
                null, ["run 1 (job 1)"]),
        ];
        await cut.InvokeAsync(() => pulse.PublishAsync(new StudioPulse(new StudioCounts(new Dictionary<RunState, int>(), 2, 0, 0), workers, [], now)));

        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("[data-testid=worker-name]").Count), TimeSpan.FromSeconds(15));
        // An offline worker's job is not current: it "was running" it; an online one without a job is idle.
        Assert.Equal(["idle", "idle", "was running run 1 (job 1)"], cut.FindAll("[data-testid=worker-jobs]").Select(c => c.TextContent.Trim()));
        var names = cut.FindAll("[data-testid=worker-name]").Select(n => n.TextContent.Trim()).ToList();
        Assert.StartsWith("worker:gpu-node-2:cuda:0", names[0]);
        Assert.EndsWith("3899e9e6 · 1 job slot", names[0]);
        Assert.DoesNotContain("639c", names[0]);
        // A long name may break after its colons only (the table fits a 1280 px screen), its text as it is.
        Assert.Contains("worker:<wbr>gpu-node-2:<wbr>cuda:<wbr>0</p>", cut.FindAll("[data-testid=worker-name]")[0].InnerHtml);
        var clip = cut.Find("[data-testid=worker-clip]");
        Assert.Equal("CLIP score with clip-vit-large-patch14", clip.TextContent.Trim());
        Assert.Equal("/models/clip-vit-large-patch14", clip.GetAttribute("title"));
        Assert.Single(cut.FindAll("[data-testid=worker-clip]"));
        Assert.Contains("generations and evaluations on cuda:0 in bfloat16", cut.FindAll("[data-testid=worker-jobs-on]")[0].TextContent);
    }
}
