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
    public string Resolve(string path) =>
        Problem(path) is { } problem ? throw new PathNotAllowedException(problem) : Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    public bool IsAllowed(string path) => Problem(path) is null;

    /// <summary>
    /// Why <paramref name="path"/> is refused ("/etc/x is outside the allowed folders (Studio:AllowedRoots: /data)"), or
    /// null when it lies under a root both as written (after resolving "..") and with every symbolic link along it followed.
    /// </summary>
    public string? Problem(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) return "no path given";
        if (path.Contains('\0')) return "the path contains a NUL character";
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        string real;
        try { real = RealPath(full, depth: 0); }
        catch (IOException e) { return $"{full}: its symbolic links cannot be followed ({e.Message})"; }
        return IsUnderRoot(full) && IsUnderRoot(real) ? null
            : $"{full}{(real == full ? "" : $" (a link to {real})")} is outside the allowed folders (Studio:AllowedRoots: {string.Join(", ", Roots)})";
    }

    bool IsUnderRoot(string full) => Roots.Any(root =>
        string.Equals(full, root, StringComparison.Ordinal) ||
        full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) ||
        root == "/");

    /// <summary>The path with every symbolic link along it followed (the existing part; the rest is appended), also dangling ones.</summary>
    static string RealPath(string full, int depth)
    {
        if (depth > 40) throw new IOException("too many levels of symbolic links");
        var root = Path.GetPathRoot(full)!;
        var current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            // The target's own folders may be links too: resolve it again.
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                next = RealPath(Path.GetFullPath(target.FullName), depth + 1);
            current = next;
        }
        return current;
    }
}
