using Hangfire.Storage.SQLite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Studio.Core.Data;
using Studio.Core.Queue;
using Studio.TestSupport;

namespace Studio.Worker.Tests;

public class WorkerProcessTests
{
    [Fact]
    public async Task WorkerRegistersAsHangfireServerWithItsQueues()
    {
        var data = StudioProcess.NewTempDirectory("studio-worker");
        await using var worker = StudioProcess.Start("Studio.Worker", "Studio.Worker", new Dictionary<string, string>
        {
            ["Studio__DataDirectory"] = data,
            ["Studio__Queues"] = "gpu-24g,cpu",
        });
        var storage = new SQLiteStorage(Path.Combine(data, "hangfire.db"), new SQLiteStorageOptions());
        var db = new PooledDbContextFactory<StudioDbContext>(new DbContextOptionsBuilder<StudioDbContext>()
            .UseSqlite($"Data Source={Path.Combine(data, "studio.db")}").Options);
        var status = new QueueStatus(storage, db);

        WorkerInfo? found = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (found is null && DateTime.UtcNow < deadline)
        {
            Assert.False(worker.HasExited, worker.Output);
            if (File.Exists(Path.Combine(data, "hangfire.db")))
                found = status.Workers().FirstOrDefault(w => w.Name.StartsWith("worker:"));
            if (found is null) await Task.Delay(500);
        }
        Assert.True(found is not null, "worker never registered:\n" + worker.Output);
        Assert.Equal(["gpu-24g", "cpu"], found!.Queues);
        Assert.True(found.Online);
    }

    [Fact]
    public async Task WorkerRefusesAnUnwritableDataDirectory()
    {
        var file = Path.Combine(StudioProcess.NewTempDirectory("studio-worker-ro"), "file");
        File.WriteAllText(file, "");
        await using var worker = StudioProcess.Start("Studio.Worker", "Studio.Worker", new Dictionary<string, string>
        {
            ["Studio__DataDirectory"] = Path.Combine(file, "data"),
        });
        Assert.Equal(2, await worker.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("not writable", worker.Output);
    }

    [Fact]
    public async Task WorkerRefusesAnUnwritableArtifactRootNamingTheSetting()
    {
        var data = StudioProcess.NewTempDirectory("studio-worker-artifacts");
        var file = Path.Combine(data, "not-a-folder");
        File.WriteAllText(file, "");
        await using var worker = StudioProcess.Start("Studio.Worker", "Studio.Worker", new Dictionary<string, string>
        {
            ["Studio__DataDirectory"] = data,
            ["Studio__ArtifactRoot"] = Path.Combine(file, "artifacts"),
        });
        Assert.Equal(2, await worker.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"Studio.Worker cannot start: The folder '{Path.Combine(file, "artifacts")}' (Studio:ArtifactRoot) is not writable", worker.Output);
        Assert.Contains("Studio__ArtifactRoot", worker.Output);
    }

    [Theory]
    [InlineData("studio.db", "the studio database")]
    [InlineData("hangfire.db", "the queue database")]
    public async Task WorkerRefusesADamagedDatabaseNamingItsFile(string file, string what)
    {
        var data = StudioProcess.NewTempDirectory("studio-worker-damaged");
        var damaged = Path.Combine(data, file);
        File.WriteAllBytes(damaged, Enumerable.Range(0, 4096).Select(i => (byte)(i * 37 % 251)).ToArray());
        await using var worker = StudioProcess.Start("Studio.Worker", "Studio.Worker", new Dictionary<string, string>
        {
            ["Studio__DataDirectory"] = data,
        });
        Assert.Equal(2, await worker.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"Studio.Worker cannot start: {what} {damaged} cannot be used: ", worker.Output);
        Assert.DoesNotContain("Unhandled exception", worker.Output);
    }
}
