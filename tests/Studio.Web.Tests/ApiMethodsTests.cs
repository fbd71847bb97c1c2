using System.Net;
using System.Text.Json;
using Studio.Web.Tests.BadInput;

namespace Studio.Web.Tests;

/// <summary>HTTP methods on the API: every GET answers HEAD too, and a method an address does not serve is a 405 naming the ones it does.</summary>
public sealed class ApiMethodsTests(ApiHost host) : IClassFixture<ApiHost>
{
    [Fact]
    public async Task HeadAnswersAsGetWithoutTheBody()
    {
        using var get = await host.Http.GetAsync($"/api/runs/{host.CompletedRun}");
        using var head = await host.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/api/runs/{host.CompletedRun}"));
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType?.MediaType, head.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        Assert.NotEmpty(await get.Content.ReadAsByteArrayAsync());
        // An unknown run is a 404 for HEAD as for GET.
        using var none = await host.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/api/runs/999999"));
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
    }

    [Theory]
    [InlineData("PUT", "/api/runs", "GET, POST")]
    [InlineData("DELETE", "/api/generations/1", "GET")]
    [InlineData("GET", "/api/sweeps", "POST")]
    public async Task AMethodTheAddressDoesNotServeIsA405NamingTheOnesItDoes(string method, string path, string allowed)
    {
        using var response = await host.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(allowed.Split(", "), response.Content.Headers.Allow.Where(m => m != "HEAD"));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal($"{method} is not served at {path} (allowed: {allowed})", body.RootElement.GetProperty("error").GetString());
    }
}
