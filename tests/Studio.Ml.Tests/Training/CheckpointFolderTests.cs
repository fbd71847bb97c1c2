using Studio.Ml.Training;

namespace Studio.Ml.Tests.Training;

public class CheckpointFolderTests
{
    static string Write(string folder, string content, Action? fail = null) => CheckpointFolder.Write(folder, temp =>
    {
        File.WriteAllText(Path.Combine(temp, "a.txt"), content);
        fail?.Invoke();
    });

    [Fact]
    public void AReplacementLeavesOnlyTheNewCheckpointAndAFailedOneLeavesTheOldUntouched()
    {
        var root = TestPaths.NewTempDirectory("checkpoint-folder");
        try
        {
            var folder = Path.Combine(root, "stage");
            Write(folder, "one");
            Write(folder, "two");
            Assert.Throws<IOException>(() => Write(folder, "three", () => throw new IOException("disk full")));

            Assert.Equal(folder, CheckpointFolder.Existing(folder));
            CheckpointFolder.Verify(folder, "a.txt");
            Assert.Equal("two", File.ReadAllText(Path.Combine(folder, "a.txt")));
            Assert.Equal([folder], Directory.GetFileSystemEntries(root));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void AReplacementInterruptedBetweenItsRenamesStillFindsThePreviousCheckpoint()
    {
        var root = TestPaths.NewTempDirectory("checkpoint-folder");
        try
        {
            var folder = Path.Combine(root, "stage");
            Write(folder, "one");
            // The first rename of a replacement moved the checkpoint aside; the crash came before the second.
            Directory.Move(folder, Path.Combine(root, ".old-stage"));

            var found = CheckpointFolder.Existing(folder);
            Assert.Equal(Path.Combine(root, ".old-stage"), found);
            CheckpointFolder.Verify(found!, "a.txt");
            Assert.Null(CheckpointFolder.Existing(Path.Combine(root, "other")));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void AFileThatNoLongerMatchesTheManifestIsRefusedByName()
    {
        var root = TestPaths.NewTempDirectory("checkpoint-folder");
        try
        {
            var folder = Write(Path.Combine(root, "stage"), "one");
            File.WriteAllText(Path.Combine(folder, "a.txt"), "tampered");
            var e = Assert.Throws<CheckpointCorruptException>(() => CheckpointFolder.Verify(folder));
            Assert.Contains("a.txt", e.Message);
            Assert.Contains("SHA-256", e.Message);
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
