namespace Studio.Core.Hosting;

public sealed class PathNotAllowedException(string message) : Exception(message);

/// <summary>
/// Checks paths a user types (model folders, prompt files) against the configured roots (Studio:AllowedRoots; the
/// data directory when none is configured). ".." and symbolic links that lead outside every root are refused.
/// </summary>
public sealed class PathGuard
{
    public IReadOnlyList<string> Roots { get; }

    public PathGuard(StudioOptions options)
    {
        var roots = options.AllowedRoots.Where(r => !string.IsNullOrWhiteSpace(r)).Select(Path.GetFullPath).ToList();
        if (roots.Count == 0) roots.Add(options.ResolvedDataDirectory);
        Roots = roots.Select(r => Path.TrimEndingDirectorySeparator(r)).ToList();
    }

    /// <summary>The full path of <paramref name="path"/> if it lies under an allowed root; throws naming the path otherwise.</summary>
    public string Resolve(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new PathNotAllowedException("no path given");
        if (path.Contains('\0')) throw new PathNotAllowedException($"'{path}' contains a NUL character");
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (!IsUnderRoot(full) || !IsUnderRoot(RealPath(full)))
            throw new PathNotAllowedException(
                $"'{path}' is outside the allowed folders ({string.Join(", ", Roots)}); add its folder to Studio:AllowedRoots to use it");
        return full;
    }

    public bool IsAllowed(string path)
    {
        try { Resolve(path); return true; }
        catch (PathNotAllowedException) { return false; }
    }

    bool IsUnderRoot(string full) => Roots.Any(root =>
        string.Equals(full, root, StringComparison.Ordinal) ||
        full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) ||
        root == "/");

    /// <summary>The path with every symbolic link along it followed (the existing part; the rest is appended).</summary>
    static string RealPath(string full)
    {
        var root = Path.GetPathRoot(full)!;
        var current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                next = target is null ? next : Path.GetFullPath(target.FullName);
            }
            current = next;
        }
        return current;
    }
}
