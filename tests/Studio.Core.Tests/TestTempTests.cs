using System.Diagnostics;
using Studio.Tests;

namespace Studio.Core.Tests;

/// <summary>The test processes' temporary files stay in one folder per process (tests/TestTemp.cs).</summary>
public class TestTempTests
{
    [Fact]
    public void This_process_writes_its_temporary_files_in_its_own_folder()
    {
        var temp = Path.TrimEndingDirectorySeparator(Path.GetTempPath());
        Assert.Equal($"studio-tests-{Environment.ProcessId}", Path.GetFileName(temp));
        Assert.True(Directory.Exists(temp));
        Assert.StartsWith(temp + Path.DirectorySeparatorChar, Directory.CreateTempSubdirectory("x-").FullName);
    }

    [Fact]
    public void A_folder_left_by_a_test_process_that_ended_is_removed_and_a_running_ones_is_kept()
    {
        var system = Directory.CreateTempSubdirectory("system-").FullName;
        using var ended = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        ended.WaitForExit();
        var abandoned = Directory.CreateDirectory(Path.Combine(system, $"studio-tests-{ended.Id}", "pipeline")).Parent!.FullName;
        var running = Directory.CreateDirectory(Path.Combine(system, $"studio-tests-{Environment.ProcessId}")).FullName;
        var other = Directory.CreateDirectory(Path.Combine(system, "studio-tests-notapid")).FullName;

        TestTemp.RemoveAbandoned(system);

        Assert.False(Directory.Exists(abandoned));
        Assert.True(Directory.Exists(running));
        Assert.True(Directory.Exists(other));
    }
}
