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
    /// STUDIO_REPO_ROOT when set (tests/gpu/run.sh runs a packed copy of this assembly outside the checkout), else the
    /// folder with Studio.sln above the test assembly.
    /// </summary>
    static string FindRepoRoot()
    {
        if (Environment.GetEnvironmentVariable("STUDIO_REPO_ROOT") is { Length: > 0 } root)
            return File.Exists(Path.Combine(root, "Studio.sln")) ? root
                : throw new InvalidOperationException($"STUDIO_REPO_ROOT={root} has no Studio.sln");
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Studio.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Studio.sln not found above " + AppContext.BaseDirectory);
    }

    public static string NewTempDirectory(string prefix) => Directory.CreateTempSubdirectory(prefix + "-").FullName;
}
