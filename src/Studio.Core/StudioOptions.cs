namespace Studio.Core;

/// <summary>The "Studio" section of appsettings.json (overridable by environment variables, e.g. Studio__DataDirectory).</summary>
public class StudioOptions
{
    public const string Section = "Studio";

    /// <summary>Where the studio keeps its database, Hangfire storage and artifacts. Relative paths resolve against the current directory.</summary>
    public string DataDirectory { get; set; } = "data";
    /// <summary>
    /// Hangfire queues this process serves, comma-separated, in priority order (e.g. "interactive,gpu-80g").
    /// A single string, so that Studio__Queues=... replaces the list instead of merging with it index by index.
    /// </summary>
    public string Queues { get; set; } = "interactive,default,cpu";
    public string[] QueueNames => Queues.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    /// <summary>Number of concurrent jobs per worker process.</summary>
    public int WorkerCount { get; set; } = 1;
    /// <summary>How often idle workers poll the queue.</summary>
    public int QueuePollMilliseconds { get; set; } = 200;
    /// <summary>Run a Hangfire server inside the web host (the embedded default).</summary>
    public bool InProcessWorker { get; set; } = true;
    /// <summary>Folders users may point at (model folders, prompt files). Empty: the data directory and the repository's models.</summary>
    public string[] AllowedRoots { get; set; } = [];

    public string ResolvedDataDirectory => Path.GetFullPath(DataDirectory);
    public string DatabasePath => Path.Combine(ResolvedDataDirectory, "studio.db");
    public string HangfireDatabasePath => Path.Combine(ResolvedDataDirectory, "hangfire.db");
    public string ArtifactRoot => Path.Combine(ResolvedDataDirectory, "artifacts");
}
