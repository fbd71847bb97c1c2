using Studio.TestSupport;

namespace Studio.E2E.Tests;

/// <summary>One real Studio.Web process (embedded SQLite, in-process worker) for the tests of a collection.</summary>
public sealed class WebHostFixture : IAsyncLifetime
{
    public StudioProcess Web { get; private set; } = null!;
    public string Url { get; private set; } = "";
    public string DataDirectory { get; } = StudioProcess.NewTempDirectory("studio-e2e");

    public async Task InitializeAsync() => (Web, Url) = await StudioProcess.StartWebAsync(DataDirectory);

    public async Task DisposeAsync() => await Web.DisposeAsync();
}

[CollectionDefinition("web")]
public class WebCollection : ICollectionFixture<WebHostFixture>;
