namespace Studio.Core.Hosting;

/// <summary>The name of this process's Hangfire server ("web:host:pid"), recorded on the runs it executes.</summary>
public sealed record WorkerIdentity(string Name)
{
    public static WorkerIdentity For(string role) => new($"{role}:{Environment.MachineName}:{Environment.ProcessId}");
}
