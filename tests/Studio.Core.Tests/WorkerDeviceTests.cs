using Studio.Core.Hosting;
using Studio.Core.Queue;

namespace Studio.Core.Tests;

/// <summary>What a worker publishes of its machine and of how it computes its jobs, read back as the Workers page reads it.</summary>
public class WorkerDeviceTests
{
    [Theory]
    [InlineData("", "", "cpu", "float32")]
    [InlineData("cpu", "bfloat16", "cpu", "bfloat16")]
    public async Task AWorkerPublishesWhereAndInWhatItsGenerationsAndEvaluationsCompute(string device, string dtype, string jobDevice, string jobDType)
    {
        var data = Directory.CreateTempSubdirectory("studio-worker-device-").FullName;
        var storage = new Hangfire.Storage.SQLite.SQLiteStorage(Path.Combine(data, "hangfire.db"));
        using var publisher = new WorkerDevicePublisher(storage, new WorkerIdentity("node:7"), new StudioOptions { DataDirectory = data, Device = device, DType = dtype });
        await publisher.StartAsync(CancellationToken.None);
        // Hangfire's id of the server: the configured name, then its own suffix.
        var read = WorkerDevicePublisher.Read(storage, "node:7:a1b2c3");
        Assert.NotNull(read);
        Assert.Equal((jobDevice, jobDType), (read.JobDevice, read.JobDType));
        Assert.True(read.Cores > 0);
        Assert.Null(WorkerDevicePublisher.Read(storage, "other:1"));
    }
}
