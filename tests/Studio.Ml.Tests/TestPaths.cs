namespace Studio.Ml.Tests;

/// <summary>Paths inside the repository: its root and the reference fixtures under tests/fixtures (see its README).</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();
    /// <summary>tests/fixtures: reference outputs made with the Hugging Face implementations.</summary>
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");
    public static string Fixture(string name) => Path.Combine(Fixtures, "models", name);
    public static string TokenizerGoldens(string kind) => Path.Combine(Fixtures, "tokenizers", $"{kind}_golden.jsonl");
    /// <summary>The tokenizers the product ships (src/Studio.Ml/Assets/tokenizers).</summary>
    public static string Tokenizers => Path.Combine(RepoRoot, "src", "Studio.Ml", "Assets", "tokenizers");

    /// <summary>
    /// The folder with Studio.sln above the test assembly, else above the working directory: tests/gpu/run.sh runs
    /// this assembly from a packed copy outside the checkout, with the checkout as its working directory.
    /// </summary>
    static string FindRepoRoot() =>
        Above(AppContext.BaseDirectory) ?? Above(Environment.CurrentDirectory)
        ?? throw new InvalidOperationException($"Studio.sln not found above {AppContext.BaseDirectory} or {Environment.CurrentDirectory}");

    static string? Above(string start)
    {
        var dir = new DirectoryInfo(start);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Studio.sln"))) dir = dir.Parent;
        return dir?.FullName;
    }

    public static string NewTempDirectory(string prefix) => Directory.CreateTempSubdirectory(prefix + "-").FullName;
}
