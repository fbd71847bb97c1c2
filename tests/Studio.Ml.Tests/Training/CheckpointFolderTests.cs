using Studio.Ml.Training;

namespace Studio.Ml.Tests.Training;

public sealed class CheckpointFolderTests : IDisposable
{
    readonly string _root = TestPaths.NewTempDirectory("checkpoint-folder");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    static string Write(string folder, string content, Action? fail = null) => CheckpointFolder.Write(folder, temp =>
    {
        File.WriteAllText(Path.Combine(temp, "a.txt"), content);
        fail?.Invoke();
    });

    [Fact]
    public void AReplacementLeavesOnlyTheNewCheckpointAndAFailedOneLeavesTheOldUntouched()
    {
        var folder = Path.Combine(_root, "stage");
        Write(folder, "one");
        Write(folder, "two");
        Assert.Throws<IOException>(() => Write(folder, "three", () => throw new IOException("disk full")));

        Assert.Equal(folder, CheckpointFolder.Existing(folder));
        CheckpointFolder.Verify(folder, "a.txt");
        Assert.Equal("two", File.ReadAllText(Path.Combine(folder, "a.txt")));
        Assert.Equal([folder], Directory.GetFileSystemEntries(_root));
    }

    [Fact]
    public void AReplacementInterruptedBetweenItsRenamesStillFindsThePreviousCheckpoint()
    {
        var folder = Path.Combine(_root, "stage");
        Write(folder, "one");
        // The first rename of a replacement moved the checkpoint aside; the crash came before the second.
        Directory.Move(folder, Path.Combine(_root, ".old-stage"));

        var found = CheckpointFolder.Existing(folder);
        Assert.Equal(Path.Combine(_root, ".old-stage"), found);
        CheckpointFolder.Verify(found!, "a.txt");
        Assert.Null(CheckpointFolder.Existing(Path.Combine(_root, "other")));
    }

    [Fact]
    public void AFileThatNoLongerMatchesTheManifestIsRefusedByName()
    {
        var folder = Write(Path.Combine(_root, "stage"), "one");
        File.WriteAllText(Path.Combine(folder, "a.txt"), "tampered");
        var e = Assert.Throws<CheckpointCorruptException>(() => CheckpointFolder.Verify(folder));
        Assert.Contains("a.txt", e.Message);
        Assert.Contains("SHA-256", e.Message);
    }
}
