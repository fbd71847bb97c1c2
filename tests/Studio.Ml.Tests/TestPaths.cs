namespace Studio.Ml.Tests;

/// <summary>Paths inside the repository: its root and the reference fixtures under tests/fixtures (see its README).</summary>
public static class TestPaths
{
    public static string RepoRoot => Studio.Tests.RepoRoot.Folder;
    /// <summary>tests/fixtures: reference outputs made with the Hugging Face implementations.</summary>
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");
    public static string Fixture(string name) => Path.Combine(Fixtures, "models", name);
    public static string TokenizerGoldens(string kind) => Path.Combine(Fixtures, "tokenizers", $"{kind}_golden.jsonl");
    /// <summary>The tokenizers the product ships (src/Studio.Ml/Assets/tokenizers).</summary>
    public static string Tokenizers => Path.Combine(RepoRoot, "src", "Studio.Ml", "Assets", "tokenizers");

    public static string NewTempDirectory(string prefix) => Directory.CreateTempSubdirectory(prefix + "-").FullName;
}
