using System.Diagnostics;
using Hangfire;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Studio.Core.Hosting;
using Studio.Ml;

namespace Studio.Core.Queue;

/// <summary>What a worker computes on: shown on the Workers page next to its Hangfire server.</summary>
/// <param name="GpuMemoryUsedBytes">Memory in use on the worker's CUDA device (every process's), refreshed every heartbeat; null on the CPU.</param>
/// <param name="JobDevice">Where its generations and evaluations compute (Studio:Device, "cpu" when empty); null from a worker that did not say.</param>
/// <param name="JobDType">What they compute in (Studio:DType: "float32", "bfloat16"); null from a worker that did not say.</param>
/// <param name="ClipModel">The CLIP model folder that gives its generations and evaluations their CLIP scores (Studio:ClipModel); null: none.</param>
public sealed record WorkerDevice(string Cpu, int Cores, long MemoryBytes, string? Gpu, long? GpuMemoryBytes, long? GpuMemoryUsedBytes = null,
    string? JobDevice = null, string? JobDType = null, string? ClipModel = null);

/// <summary>
/// Publishes this worker's device into Hangfire's storage (a hash per server name), where every web host reads it:
/// the CPU model and memory from /proc, the GPUs from nvidia-smi when it exists. A worker whose Studio:Device is CUDA
/// also publishes its device's used and total memory every heartbeat (<see cref="ComputeDevice.MemoryOf"/>, the CUDA
/// runtime's cudaMemGetInfo); only then is the tensor library loaded here.
/// </summary>
public sealed class WorkerDevicePublisher(JobStorage storage, WorkerIdentity worker, StudioOptions options,
    ILogger<WorkerDevicePublisher>? log = null) : IHostedService, IDisposable
{
    Timer? _memory;
    Timer? _retry;
    /// <summary>Tries at start before the publishing is left to a timer (a write that lost a race is tried again at once).</summary>
    public const int StartAttempts = 4;

    const string DeviceSet = "studio:devices";
    public static string KeyOf(string serverName) => $"studio:device:{serverName.ToLowerInvariant()}";

    /// <summary>
    /// Publishes the device. The storage may refuse a write for a while (PostgreSQL's serializable transactions abort
    /// one of two workers that start at the same moment: "could not serialize access ... might succeed if retried"),
    /// and what is published here is for the Workers page only, so a failed write never stops the worker: it is tried
    /// again at once a few times, then every heartbeat until it lands.
    /// </summary>
    public async Task StartAsync(CancellationToken ct)
    {
        var device = Detect(options.Device);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                Publish(device);
                break;
            }
            catch (Exception e) when (attempt < StartAttempts && !ct.IsCancellationRequested)
            {
                log?.LogDebug("Publishing the device of {Worker} failed ({Error}); trying again", worker.Name, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(50, 250) * attempt), ct);
            }
            catch (Exception e)
            {
                log?.LogWarning("The device of {Worker} could not be published yet ({Error}); trying again every heartbeat", worker.Name, e.Message);
                _retry = new Timer(_ => RetryPublish(device), null, TimeSpan.FromSeconds(options.HeartbeatSeconds), TimeSpan.FromSeconds(options.HeartbeatSeconds));
                break;
            }
        }
        if (options.JobDevice.StartsWith("cuda", StringComparison.Ordinal))
            _memory = new Timer(_ => PublishGpuMemory(), null, TimeSpan.Zero, TimeSpan.FromSeconds(options.HeartbeatSeconds));
    }

    void Publish(WorkerDevice device)
    {
        using var connection = storage.GetConnection();
        using (var transaction = connection.CreateWriteTransaction())
        {
            transaction.AddToSet(DeviceSet, worker.Name.ToLowerInvariant());
            transaction.Commit();
        }
        connection.SetRangeInHash(KeyOf(worker.Name), new Dictionary<string, string>
        {
            ["cpu"] = device.Cpu, ["cores"] = device.Cores.ToString(), ["memory"] = device.MemoryBytes.ToString(),
            ["gpu"] = device.Gpu ?? "", ["gpuMemory"] = device.GpuMemoryBytes?.ToString() ?? "",
            ["jobDevice"] = options.JobDevice, ["jobDType"] = options.JobDType, ["clipModel"] = options.JobClipModel ?? "",
        });
    }

    void RetryPublish(WorkerDevice device)
    {
        try
        {
            Publish(device);
            _retry?.Dispose();
            log?.LogInformation("The device of {Worker} is published", worker.Name);
        }
        catch (Exception) { }   // still refused: the next heartbeat tries again
    }

    void PublishGpuMemory()
    {
        try
        {
            TorchRuntime.Initialise();
            if (ComputeDevice.MemoryOf(ComputeDevice.Parse(options.JobDevice, "Studio:Device")) is not { } memory) return;
            using var connection = storage.GetConnection();
            connection.SetRangeInHash(KeyOf(worker.Name), new Dictionary<string, string>
            {
                ["gpuMemoryUsed"] = memory.UsedBytes.ToString(), ["gpuMemory"] = memory.TotalBytes.ToString(),
            });
        }
        catch (ArgumentException) { _memory?.Dispose(); }   // no such CUDA device here: the jobs say so
        catch (Exception) { }   // the storage is unreachable for now: the next heartbeat publishes again
    }

    public Task StopAsync(CancellationToken ct)
    {
        _memory?.Dispose();
        _retry?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _memory?.Dispose();
        _retry?.Dispose();
    }

    /// <summary>The device a server published; <paramref name="serverId"/> is Hangfire's id, which starts with the configured name.</summary>
    public static WorkerDevice? Read(JobStorage storage, string serverId)
    {
        using var connection = storage.GetConnection();
        var id = serverId.ToLowerInvariant();
        var name = connection.GetAllItemsFromSet(DeviceSet).Where(n => id == n || id.StartsWith(n + ":", StringComparison.Ordinal)).MaxBy(n => n.Length);
        if (name is null) return null;
        var hash = connection.GetAllEntriesFromHash(KeyOf(name));
        if (hash is null) return null;
        return new WorkerDevice(hash.GetValueOrDefault("cpu") ?? "?", int.TryParse(hash.GetValueOrDefault("cores"), out var c) ? c : 0,
            long.TryParse(hash.GetValueOrDefault("memory"), out var m) ? m : 0,
            hash.GetValueOrDefault("gpu") is { Length: > 0 } g ? g : null,
            long.TryParse(hash.GetValueOrDefault("gpuMemory"), out var gm) ? gm : null,
            long.TryParse(hash.GetValueOrDefault("gpuMemoryUsed"), out var used) ? used : null,
            hash.GetValueOrDefault("jobDevice") is { Length: > 0 } jobDevice ? jobDevice : null,
            hash.GetValueOrDefault("jobDType") is { Length: > 0 } jobDType ? jobDType : null,
            hash.GetValueOrDefault("clipModel") is { Length: > 0 } clipModel ? clipModel : null);
    }

    /// <summary>This machine's CPU and memory, and its GPUs (only GPU N for a worker bound to "cuda:N").</summary>
    public static WorkerDevice Detect(string? device = null)
    {
        var cpu = ReadProcField("/proc/cpuinfo", "model name") ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
        var memKb = ReadProcField("/proc/meminfo", "MemTotal")?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        var memory = long.TryParse(memKb, out var kb) ? kb * 1024 : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        int? gpuIndex = device is { } d && d.StartsWith("cuda:", StringComparison.OrdinalIgnoreCase) && int.TryParse(d[5..], out var i) ? i : null;
        var (gpu, gpuMemory) = NvidiaSmi(gpuIndex);
        if (gpu is not null && device is { Length: > 0 }) gpu = $"{device}: {gpu}";
        return new WorkerDevice(cpu, Environment.ProcessorCount, memory, gpu, gpuMemory);
    }

    static string? ReadProcField(string file, string field)
    {
        try
        {
            return File.ReadLines(file).Where(l => l.StartsWith(field, StringComparison.Ordinal))
                .Select(l => l[(l.IndexOf(':') + 1)..].Trim()).FirstOrDefault();
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>"NVIDIA A100-SXM4-80GB x 2" and the memory of one, or nulls without NVIDIA's tool.</summary>
    static (string?, long?) NvidiaSmi(int? index)
    {
        try
        {
            var only = index is { } n ? $" -i {n}" : "";
            using var process = Process.Start(new ProcessStartInfo("nvidia-smi", "--query-gpu=name,memory.total --format=csv,noheader,nounits" + only)
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (process is null) return (null, null);
            var lines = process.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (!process.WaitForExit(5000) || process.ExitCode != 0 || lines.Length == 0) return (null, null);
            var first = lines[0].Split(',', StringSplitOptions.TrimEntries);
            var name = lines.Length > 1 ? $"{first[0]} x {lines.Length}" : first[0];
            return (name, first.Length > 1 && long.TryParse(first[1], out var mib) ? mib * 1024 * 1024 : null);
        }
        catch (System.ComponentModel.Win32Exception) { return (null, null); }
    }
}
