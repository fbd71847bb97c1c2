using System.Reflection;
using Hangfire;
using Hangfire.Storage;
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
        Assert.Equal((jobDevice, jobDType, (string?)null), (read.JobDevice, read.JobDType, read.ClipModel));
        Assert.True(read.Cores > 0);
        Assert.Null(WorkerDevicePublisher.Read(storage, "other:1"));
    }

    [Fact]
    public async Task AWorkerWithAClipModelSaysWhichOne()
    {
        var data = Directory.CreateTempSubdirectory("studio-worker-device-").FullName;
        var storage = new Hangfire.Storage.SQLite.SQLiteStorage(Path.Combine(data, "hangfire.db"));
        using var publisher = new WorkerDevicePublisher(storage, new WorkerIdentity("node:8"),
            new StudioOptions { DataDirectory = data, ClipModel = "/models/clip-vit-large-patch14" });
        await publisher.StartAsync(CancellationToken.None);
        Assert.Equal("/models/clip-vit-large-patch14", WorkerDevicePublisher.Read(storage, "node:8:a1b2c3")!.ClipModel);
    }

    [Fact]
    public async Task AWriteTheStorageRefusesAtStartIsTriedAgainAndNeverStopsTheWorker()
    {
        var data = Directory.CreateTempSubdirectory("studio-worker-device-").FullName;
        var inner = new Hangfire.Storage.SQLite.SQLiteStorage(Path.Combine(data, "hangfire.db"));
        var options = new StudioOptions { DataDirectory = data, HeartbeatSeconds = 1 };

        // Two refusals (as PostgreSQL aborts one of two workers' serializable writes at the same moment): tried again at once.
        var storage = new RefusingStorage(inner, refusals: 2);
        using (var publisher = new WorkerDevicePublisher(storage, new WorkerIdentity("node:1"), options))
            await publisher.StartAsync(CancellationToken.None);
        Assert.NotNull(WorkerDevicePublisher.Read(inner, "node:1:x"));
        Assert.Equal(0, storage.Refusals);

        // Refused more often than the start tries: the worker starts anyway, and a heartbeat later the device is there.
        storage = new RefusingStorage(inner, refusals: WorkerDevicePublisher.StartAttempts + 1);
        using var late = new WorkerDevicePublisher(storage, new WorkerIdentity("node:2"), options);
        await late.StartAsync(CancellationToken.None);
        Assert.Null(WorkerDevicePublisher.Read(inner, "node:2:x"));
        for (var waited = 0; WorkerDevicePublisher.Read(inner, "node:2:x") is null && waited < 100; waited++) await Task.Delay(100);
        Assert.NotNull(WorkerDevicePublisher.Read(inner, "node:2:x"));
        await late.StopAsync(CancellationToken.None);
    }

    /// <summary>A storage whose connections refuse the first <c>refusals</c> hash writes, as a serialization failure does.</summary>
    sealed class RefusingStorage(JobStorage inner, int refusals) : JobStorage
    {
        readonly Lock _gate = new();
        int _refusals = refusals;
        public int Refusals { get { lock (_gate) return _refusals; } }
        public override IMonitoringApi GetMonitoringApi() => inner.GetMonitoringApi();
        public override IStorageConnection GetConnection()
        {
            var proxy = DispatchProxy.Create<IStorageConnection, Refusing>();
            ((Refusing)(object)proxy).Set(inner.GetConnection(), this);
            return proxy;
        }

        internal bool Refuse()
        {
            lock (_gate)
            {
                if (_refusals == 0) return false;
                _refusals--;
                return true;
            }
        }

        public class Refusing : DispatchProxy
        {
            IStorageConnection _inner = null!;
            RefusingStorage _storage = null!;
            internal void Set(IStorageConnection inner, RefusingStorage storage) => (_inner, _storage) = (inner, storage);

            protected override object? Invoke(MethodInfo? method, object?[]? args)
            {
                if (method!.Name == nameof(IStorageConnection.SetRangeInHash) && _storage.Refuse())
                    throw new InvalidOperationException("40001: could not serialize access due to read/write dependencies among transactions");
                try { return method.Invoke(_inner, args); }
                catch (TargetInvocationException e) { throw e.InnerException!; }
            }
        }
    }
}
