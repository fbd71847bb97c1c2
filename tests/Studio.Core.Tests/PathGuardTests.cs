using Studio.Core.Hosting;

namespace Studio.Core.Tests;

public class PathGuardTests
{
    [Fact]
    public void PathsInsideARootAreAllowedAndTraversalOrLinksOutsideAreRefused()
    {
        var root = Directory.CreateTempSubdirectory("studio-roots-").FullName;
        var models = Directory.CreateDirectory(Path.Combine(root, "models")).FullName;
        var outside = Directory.CreateTempSubdirectory("studio-outside-").FullName;
        var link = Path.Combine(models, "escape");
        Directory.CreateSymbolicLink(link, outside);
        var guard = new PathGuard(new StudioOptions { AllowedRoots = [models] });

        Assert.Equal(Path.Combine(models, "t5-small"), guard.Resolve(Path.Combine(models, "t5-small")));
        Assert.Equal(models, guard.Resolve(models + "/"));
        var e = Assert.Throws<PathNotAllowedException>(() => guard.Resolve(Path.Combine(models, "..", "secrets")));
        Assert.Contains("Studio:AllowedRoots", e.Message);
        Assert.Throws<PathNotAllowedException>(() => guard.Resolve(models + "-sibling"));
        Assert.Throws<PathNotAllowedException>(() => guard.Resolve(Path.Combine(link, "weights")));
        Assert.Throws<PathNotAllowedException>(() => guard.Resolve("/etc/passwd"));
        Assert.Throws<PathNotAllowedException>(() => guard.Resolve(""));
    }

    [Fact]
    public void WithoutConfiguredRootsOnlyTheDataDirectoryIsAllowed()
    {
        var data = Directory.CreateTempSubdirectory("studio-data-").FullName;
        var guard = new PathGuard(new StudioOptions { DataDirectory = data });
        Assert.Equal([data], guard.Roots);
        Assert.True(guard.IsAllowed(Path.Combine(data, "prompts.txt")));
        Assert.False(guard.IsAllowed(Path.GetTempPath()));
    }
}
