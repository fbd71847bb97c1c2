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
    /// <summary>Number of concurrent jobs per worker process (on every queue in <see cref="Queues"/>).</summary>
    public int WorkerCount { get; set; } = 1;
    /// <summary>
    /// Extra job slots that serve only the `interactive` queue and then `interactive_evaluations` (generations, then evaluations), when <see cref="Queues"/>
    /// includes it: a Generate request then starts at once even while every other slot trains a run. 0: none.
    /// </summary>
    public int InteractiveWorkerCount { get; set; } = 1;
    /// <summary>How often idle workers poll the queue.</summary>
    public int QueuePollMilliseconds { get; set; } = 200;
    /// <summary>Run a Hangfire server inside the web host (the embedded default).</summary>
    public bool InProcessWorker { get; set; } = true;
    /// <summary>Folders users may point at (model folders, prompt files). Empty: the data directory and the repository's models.</summary>
    public string[] AllowedRoots { get; set; } = [];
    /// <summary>
    /// Logins: "auto" (required when the studio listens beyond the loopback interface, skipped on 127.0.0.1),
    /// "required", or "off" (single user; only sensible on a trusted loopback binding).
    /// </summary>
    public string Auth { get; set; } = "auto";
    /// <summary>The first admin's password when logins are required and no user exists yet. Empty: a random one, printed once and saved in the data directory.</summary>
    public string AdminPassword { get; set; } = "";

    /// <summary>The studio's database: SQLite in the data directory (embedded) or a PostgreSQL server (many machines).</summary>
    public StorageOptions Database { get; set; } = new();
    /// <summary>Hangfire's storage; an empty provider follows <see cref="Database"/> (and its connection string).</summary>
    public HangfireStorageOptions Hangfire { get; set; } = new();
    /// <summary>
    /// Where checkpoints, samples, exports and generated images go. Empty: DataDirectory/artifacts. With many
    /// machines, a folder every web host and worker mounts at the same path (Studio.Core.Jobs.IArtifactStore documents the interface).
    /// </summary>
    public string ArtifactRoot
    {
        get => string.IsNullOrWhiteSpace(_artifactRoot) ? Path.Combine(ResolvedDataDirectory, "artifacts") : Path.GetFullPath(_artifactRoot);
        set => _artifactRoot = value;
    }
    string _artifactRoot = "";
    /// <summary>A Redis connection string ("127.0.0.1:6379"): web hosts then share SignalR through a Redis backplane.</summary>
    public string Redis { get; set; } = "";
    /// <summary>The device this worker computes on ("cpu", "cuda:0", ...): runs asking for cuda run on it. Empty: as the run says.</summary>
    public string Device { get; set; } = "";
    /// <summary>Where this worker's generations and evaluations compute: <see cref="Device"/>, or the CPU when it is empty.</summary>
    public string JobDevice => string.IsNullOrWhiteSpace(Device) ? "cpu" : Device;
    /// <summary>
    /// The dtype of this worker's generations and evaluations ("float32", the reference path; "bfloat16": half the memory
    /// and faster on a GPU, FLUX.1-dev's 12B transformer in 24 GB instead of 48). Empty: float32.
    /// </summary>
    public string DType { get; set; } = "";
    /// <summary><see cref="DType"/> by its full name ("bf16" is "bfloat16"), or float32 when it is empty.</summary>
    public string JobDType => string.IsNullOrWhiteSpace(DType) ? "float32" : DType.Trim().ToLowerInvariant() switch
    {
        "bf16" => "bfloat16",
        "fp32" => "float32",
        var name => name,
    };
    /// <summary>
    /// A transformers CLIP model folder (openai/clip-vit-large-patch14, as the paper): this worker's evaluations also
    /// measure each image's CLIP score against its prompt, the teacher's too. Empty: no CLIP score. Checked against
    /// the allowed folders like a pipeline.
    /// </summary>
    public string ClipModel { get; set; } = "";
    /// <summary><see cref="ClipModel"/>, or null when it is empty (no CLIP score).</summary>
    public string? JobClipModel => string.IsNullOrWhiteSpace(ClipModel) ? null : ClipModel;
    /// <summary>Generations free the teacher's text encoders once the prompt is encoded (T5-XXL and the transformer never share the GPU).</summary>
    public bool FreeTextEncoders { get; set; }
    /// <summary>
    /// An address that hears when a run ends (completed, failed or cancelled): a JSON POST with a one-line "text", as
    /// Slack, Mattermost and Discord incoming webhooks take it, and the run's numbers. Empty: none. Sent by the run's
    /// worker, or by the web host's reconciler when it ends a run whose worker is gone.
    /// </summary>
    public string Webhook { get; set; } = "";
    /// <summary>The studio's address as people open it ("https://studio.lab.example"): messages link to runs with it. Empty: no links.</summary>
    public string PublicUrl { get; set; } = "";
    /// <summary>How often a worker's Hangfire server reports that it is alive.</summary>
    public int HeartbeatSeconds { get; set; } = 5;
    /// <summary>A worker silent for this long is gone: its runs are no longer shown running, and its server entry is removed.</summary>
    public int WorkerTimeoutSeconds { get; set; } = 30;
    /// <summary>Where a worker keeps the metrics it could not deliver yet (a file per run). Empty: DataDirectory/spool.</summary>
    public string SpoolDirectory
    {
        get => string.IsNullOrWhiteSpace(_spoolDirectory) ? Path.Combine(ResolvedDataDirectory, "spool") : Path.GetFullPath(_spoolDirectory);
        set => _spoolDirectory = value;
    }
    string _spoolDirectory = "";

    public string ResolvedDataDirectory => Path.GetFullPath(DataDirectory);
    public string DatabasePath => Path.Combine(ResolvedDataDirectory, "studio.db");
    public string HangfireDatabasePath => Path.Combine(ResolvedDataDirectory, "hangfire.db");
    /// <summary>
    /// The web host's data-protection keys (login cookies, antiforgery tokens). Empty: DataDirectory/keys. Web hosts
    /// behind one load balancer point it at one shared, private folder so that each accepts the others' cookies.
    /// </summary>
    public string KeysDirectory
    {
        get => string.IsNullOrWhiteSpace(_keysDirectory) ? Path.Combine(ResolvedDataDirectory, "keys") : Path.GetFullPath(_keysDirectory);
        set => _keysDirectory = value;
    }
    string _keysDirectory = "";

    public string DatabaseProvider => StorageProviders.Parse(Database.Provider, "Studio:Database:Provider");
    public string HangfireProvider => string.IsNullOrWhiteSpace(Hangfire.Provider) ? DatabaseProvider : StorageProviders.Parse(Hangfire.Provider, "Studio:Hangfire:Provider");
    public string HangfireConnectionString => string.IsNullOrWhiteSpace(Hangfire.ConnectionString) ? Database.ConnectionString : Hangfire.ConnectionString;
}

public static class StorageProviders
{
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary>"sqlite" or "postgres" (also "postgresql"/"npgsql"), or an error naming the key and the value.</summary>
    public static string Parse(string? value, string key) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or Sqlite => Sqlite,
        Postgres or "postgresql" or "npgsql" => Postgres,
        _ => throw new ArgumentException($"{key}: unknown provider '{value}' (sqlite or postgres)"),
    };
}

/// <summary>Studio:Database: the provider and, for PostgreSQL, its connection string ("Host=db;Database=studio;Username=studio;Password=...").</summary>
public class StorageOptions
{
    public string Provider { get; set; } = StorageProviders.Sqlite;
    public string ConnectionString { get; set; } = "";
}

/// <summary>Studio:Hangfire: the queue's storage (Provider empty = the database's), its PostgreSQL schema and re-delivery timeout.</summary>
public class HangfireStorageOptions : StorageOptions
{
    public HangfireStorageOptions() => Provider = "";
    public string Schema { get; set; } = "hangfire";
    /// <summary>
    /// PostgreSQL: a job whose worker stopped renewing it (killed, machine lost) is handed to another worker after
    /// this long. Live workers renew their jobs well within it (sliding invisibility timeout).
    /// </summary>
    public int InvisibilityTimeoutSeconds { get; set; } = 60;
}
