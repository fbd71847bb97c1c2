namespace Studio.Ml.Tests;

/// <summary>Paths to the repository and to ../shared (fixtures, tokenizers, datasets) beside it.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();
    /// <summary>STUDIO_SHARED if set, else ../shared beside the repository.</summary>
    public static string Shared => Environment.GetEnvironmentVariable("STUDIO_SHARED") is { Length: > 0 } s
        ? s : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
    public static string Fixture(string name) => Path.Combine(Shared, "fixtures", "models", name);
    public static string Tokenizers => Path.Combine(Shared, "tokenizers");

    static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Studio.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Studio.sln not found above " + AppContext.BaseDirectory);
    }

    public static string NewTempDirectory(string prefix) => Directory.CreateTempSubdirectory(prefix + "-").FullName;
}
