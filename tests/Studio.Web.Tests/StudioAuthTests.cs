using Studio.Core;
using Studio.Core.Hosting;
using Studio.Web.Auth;

namespace Studio.Web.Tests;

public class StudioAuthTests
{
    static StudioAccess Decide(string auth, string? urls) => StudioAuth.Decide(new StudioOptions { Auth = auth }, urls);

    [Theory]
    [InlineData("http://127.0.0.1:5080")]
    [InlineData("http://localhost:5080;http://[::1]:5080")]
    [InlineData(null)]
    public void AutoSkipsTheLoginOnLoopbackOnly(string? urls) => Assert.False(Decide("auto", urls).LoginRequired);

    [Theory]
    [InlineData("http://0.0.0.0:5080")]
    [InlineData("http://*:80")]
    [InlineData("http://127.0.0.1:5080;http://10.1.2.3:5080")]
    [InlineData("http://studio.lab.example:5080")]
    public void AutoRequiresALoginBeyondLoopbackAndSaysWhy(string urls)
    {
        var access = Decide("auto", urls);
        Assert.True(access.LoginRequired);
        Assert.Contains("listens beyond this machine", access.Reason);
    }

    [Fact]
    public void ExplicitModesWinAndAnUnknownOneIsNamed()
    {
        Assert.True(Decide("required", "http://127.0.0.1:5080").LoginRequired);
        Assert.False(Decide("off", "http://0.0.0.0:5080").LoginRequired);
        var e = Assert.Throws<StudioConfigurationException>(() => Decide("maybe", null));
        Assert.Contains("Studio:Auth", e.Message);
        Assert.Contains("maybe", e.Message);
    }
}
