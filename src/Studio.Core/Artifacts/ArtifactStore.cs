namespace Studio.Core.Artifacts;

/// <summary>
/// Where jobs put what they produce (checkpoints, samples, exports, generated images) and where every host finds it
/// again. The studio ships one store, <see cref="MountedArtifactStore"/>: a folder (Studio:ArtifactRoot) that every
/// web host and worker mounts at the same path (NFS, a cluster file system, a bind mount). Paths recorded in the
/// database are paths under that root.
/// <para>
/// Another store (an object store, say) implements this interface and registers itself in place of the mounted one:
/// <see cref="LocalFolder"/> returns a local working folder (a cache) for a job; <see cref="PrepareAsync"/> fills it
/// with what was stored before (a resumed run needs its checkpoints); <see cref="CommitAsync"/> uploads a file or
/// folder as soon as a job finished writing it (a checkpoint, a sample), so a killed worker loses nothing committed.
/// </para>
/// </summary>
public interface IArtifactStore
{
    /// <summary>The folder of one run's checkpoints, samples and log.</summary>
    string RunFolder(int runId);
    /// <summary>Makes the stored content of <paramref name="folder"/> available locally before a job reads it.</summary>
    Task PrepareAsync(string folder, CancellationToken ct);
    /// <summary>Stores a file or folder a job has just finished writing (atomically renamed into place).</summary>
    Task CommitAsync(string path, CancellationToken ct);
}

/// <summary>The shared-folder store: the artifact root is mounted at the same path everywhere, so nothing needs copying.</summary>
public sealed class MountedArtifactStore(StudioOptions options) : IArtifactStore
{
    public string RunFolder(int runId) => ArtifactFolders.Run(options, runId);
    public Task PrepareAsync(string folder, CancellationToken ct) => Task.CompletedTask;
    public Task CommitAsync(string path, CancellationToken ct) => Task.CompletedTask;
}
