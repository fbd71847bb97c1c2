using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Studio.Tests;

/// <summary>
/// Every test process keeps its temporary files in one folder of its own, <c>studio-tests-PID</c> in the system's
/// temporary folder, removed when the process ends: the suite makes thousands of folders (pipelines, databases, studio
/// data directories, browser profiles), which would otherwise pile up in /tmp at every run. TMPDIR is pointed at it
/// before any test runs, so Path.GetTempPath, Directory.CreateTempSubdirectory and the processes the tests start
/// (studio, chromium, PostgreSQL's tools) all write there. A folder left by a process that did not end cleanly (killed
/// by a time limit, a crashed test host) is removed by the next test process that starts. One file, compiled into
/// every project under tests/ (Directory.Build.targets), like RepoRoot.cs.
/// </summary>
internal static class TestTemp
{
    const string Prefix = "studio-tests-";

#pragma warning disable CA2255 // a test assembly, not a library: this must run before any test class is touched
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void UseOwnFolder()
    {
        var name = Prefix + Environment.ProcessId;
        var system = Path.GetTempPath();
        // Another test assembly of this process (or of a parent test process) redirected it already.
        if (Path.GetFileName(Path.TrimEndingDirectorySeparator(system)).StartsWith(Prefix, StringComparison.Ordinal)) return;
        RemoveAbandoned(system);
        var folder = Path.Combine(system, name);
        Directory.CreateDirectory(folder);
        Environment.SetEnvironmentVariable("TMPDIR", folder + Path.DirectorySeparatorChar);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(folder);
    }

    /// <summary>Removes the folders of test processes that are no longer running.</summary>
    internal static void RemoveAbandoned(string system)
    {
        foreach (var folder in Directory.EnumerateDirectories(system, Prefix + "*"))
            if (int.TryParse(Path.GetFileName(folder)[Prefix.Length..], out var pid) && !IsRunning(pid))
                TryDelete(folder);
    }

    static bool IsRunning(int pid)
    {
        try { using var process = Process.GetProcessById(pid); return !process.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
