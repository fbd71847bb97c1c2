namespace Studio.Core.Hosting;

public sealed class DataDirectoryException(string message) : Exception(message);

public static class DataDirectory
{
    /// <summary>Creates the data directory if needed and proves it is writable, or throws with a message naming it.</summary>
    public static void EnsureWritable(string path)
    {
        try
        {
            Directory.CreateDirectory(path);
            var probe = Path.Combine(path, $".write-probe-{Environment.ProcessId}");
            File.WriteAllText(probe, "ok");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new DataDirectoryException(
                $"The data directory '{path}' is not writable ({e.Message}). " +
                "Set Studio:DataDirectory in appsettings.json or the environment variable Studio__DataDirectory to a writable folder.");
        }
    }
}
