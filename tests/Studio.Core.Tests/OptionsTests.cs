using Microsoft.Extensions.Configuration;
using Studio.Core;
using Studio.Core.Hosting;

namespace Studio.Core.Tests;

public class OptionsTests
{
    [Fact]
    public void EnvironmentStyleKeysOverrideTheSettingsFile()
    {
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Studio:DataDirectory"] = "from-file",
                ["Studio:Queues"] = "interactive,default,cpu",
            })
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Studio:DataDirectory"] = "/tmp/override",
                ["Studio:Queues"] = "gpu-80g, cpu",
            })
            .Build();
        var options = config.ReadStudioOptions();
        Assert.Equal("/tmp/override", options.ResolvedDataDirectory);
        Assert.Equal(["gpu-80g", "cpu"], options.QueueNames);
        Assert.Equal("/tmp/override/studio.db", options.DatabasePath);
        Assert.Equal(["interactive", "default", "cpu"], new ConfigurationBuilder().Build().ReadStudioOptions().QueueNames);
    }

    [Theory]
    [InlineData(null, "float32")]
    [InlineData("", "float32")]
    [InlineData("fp32", "float32")]
    [InlineData(" BF16 ", "bfloat16")]
    [InlineData("bfloat16", "bfloat16")]
    public void AWorkersDTypeIsStoredByItsFullName(string? setting, string stored)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Studio:DType"] = setting }).Build();
        Assert.Equal(stored, config.ReadStudioOptions().JobDType);
    }

    [Fact]
    public void RepositorySettingsFileParsesAndDefaultsToLoopback()
    {
        var config = new ConfigurationBuilder().AddJsonFile(Path.Combine(Studio.Tests.RepoRoot.Folder, "appsettings.json")).Build();
        Assert.StartsWith("http://127.0.0.1:", config["Urls"]);
        Assert.NotEmpty(config.ReadStudioOptions().QueueNames);
    }
}
