namespace Studio.Core.Hosting;

/// <summary>
/// The name of this process's Hangfire server ("worker:host:pid", or "worker:host:cuda0:pid" for a worker bound to a
/// device), recorded on the runs it executes; the server's heartbeat under this name tells whether it is alive.
/// </summary>
public sealed record WorkerIdentity(string Name)
{
    public static WorkerIdentity For(string role, string? device = null) =>
        new(string.IsNullOrWhiteSpace(device)
            ? $"{role}:{Environment.MachineName}:{Environment.ProcessId}"
            : $"{role}:{Environment.MachineName}:{device.Replace(":", "")}:{Environment.ProcessId}");
}
