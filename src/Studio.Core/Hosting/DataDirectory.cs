namespace Studio.Core.Hosting;

public sealed class DataDirectoryException(string message) : Exception(message);

public static class DataDirectory
{
    /// <summary>
    /// Creates a folder the process writes (the data directory, or <paramref name="setting"/>'s folder) if needed and
    /// proves it is writable, or throws with a message naming it and the setting that moves it.
    /// </summary>
    public static void EnsureWritable(string path, string? setting = null)
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
            throw new DataDirectoryException(setting is null
                ? $"The data directory '{path}' is not writable ({e.Message}). " +
                  "Set Studio:DataDirectory in appsettings.json or the environment variable Studio__DataDirectory to a writable folder."
                : $"The folder '{path}' ({setting}) is not writable ({e.Message}); a worker writes checkpoints, samples and exports there. " +
                  $"Set {setting} (environment variable {setting.Replace(":", "__")}) to a writable folder.");
        }
    }
}
