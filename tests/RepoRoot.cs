namespace Studio.Tests;

/// <summary>
/// The repository's root, for tests that read its files (fixtures, sources, settings) or start its apps:
/// STUDIO_REPO_ROOT when set (tests/gpu/run.sh runs a packed copy of Studio.Ml.Tests outside the checkout), else the
/// folder with Studio.sln above the test assembly. One file, compiled into every project under tests/
/// (Directory.Build.targets).
/// </summary>
internal static class RepoRoot
{
    public static string Folder { get; } = Find();

    /// <summary>
    /// The shipped toy teacher's files without its README, copied into <paramref name="folder"/>: a FLUX pipeline like
    /// any other, which the toy world's evaluator cannot score (it knows a toy-world teacher by that README).
    /// </summary>
    public static string CopyToyTeacherWithoutReadme(string folder)
    {
        var shipped = System.IO.Path.Combine(Folder, "src", "Studio.Ml", "Assets", "toy-teacher");
        foreach (var file in Directory.EnumerateFiles(shipped, "*", SearchOption.AllDirectories).Where(f => System.IO.Path.GetFileName(f) != "README.md"))
        {
            var target = System.IO.Path.Combine(folder, System.IO.Path.GetRelativePath(shipped, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return folder;
    }

    static string Find()
    {
        if (Environment.GetEnvironmentVariable("STUDIO_REPO_ROOT") is { Length: > 0 } root)
            return File.Exists(System.IO.Path.Combine(root, "Studio.sln")) ? root
                : throw new InvalidOperationException($"STUDIO_REPO_ROOT={root} has no Studio.sln");
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Studio.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Studio.sln not found above " + AppContext.BaseDirectory);
    }
}
