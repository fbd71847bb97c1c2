namespace Studio.Core.Artifacts;

/// <summary>Where the studio keeps what jobs produce, under Studio:DataDirectory/artifacts.</summary>
public static class ArtifactFolders
{
    public static string Run(StudioOptions options, int runId) => Path.Combine(options.ArtifactRoot, "runs", $"run-{runId}");
    public static string Generation(StudioOptions options, int generationId) => Path.Combine(options.ArtifactRoot, "generations", $"generation-{generationId}");
    public static string Export(StudioOptions options, int checkpointId, string format) => Path.Combine(options.ArtifactRoot, "exports", $"checkpoint-{checkpointId}-{format}");

    /// <summary>True when <paramref name="path"/> lies inside the artifact root (so the studio may serve or delete it).</summary>
    public static bool Contains(StudioOptions options, string path)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.ArtifactRoot));
        return Path.GetFullPath(path).StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }
}
