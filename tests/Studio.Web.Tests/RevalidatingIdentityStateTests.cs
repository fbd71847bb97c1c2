using System.Security.Claims;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Studio.Core;
using Studio.Web.Auth;

namespace Studio.Web.Tests;

/// <summary>An open page's periodic login check: out when the user is gone or changed, kept when the database cannot answer.</summary>
public sealed class RevalidatingIdentityStateTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("revalidate-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    static ServiceProvider Services(string dataDirectory)
    {
        var services = new ServiceCollection().AddLogging();
        StudioIdentityDbContext.AddStudioIdentityDatabase(services, new StudioOptions { DataDirectory = dataDirectory });
        services.AddIdentityCore<StudioUser>().AddRoles<IdentityRole>().AddEntityFrameworkStores<StudioIdentityDbContext>();
        return services.BuildServiceProvider();
    }

    static RevalidatingIdentityState State(ServiceProvider services) => new(services.GetRequiredService<ILoggerFactory>(),
        services.GetRequiredService<IServiceScopeFactory>(), services.GetRequiredService<IOptions<IdentityOptions>>());

    static ClaimsPrincipal Login(string id, string? stamp) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.NameIdentifier, id), new Claim(ClaimTypes.Name, "ada"), new Claim("AspNet.Identity.SecurityStamp", stamp ?? "")], "Identity.Application"));

    [Fact]
    public async Task AGoneOrChangedUserIsOutAndAnUnreachableDatabaseKeepsThePage()
    {
        using var services = Services(root);
        await using (var scope = services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<StudioIdentityDbContext>().MigrateAsync();
        string id, stamp;
        await using (var scope = services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<StudioUser>>();
            var user = new StudioUser { UserName = "ada" };
            Assert.True((await users.CreateAsync(user, "A-long-enough-password-1")).Succeeded);
            (id, stamp) = (user.Id, (await users.GetSecurityStampAsync(user))!);
        }
        var state = State(services);
        Assert.True(await state.IsValidAsync(Login(id, stamp), default));
        Assert.False(await state.IsValidAsync(Login(id, "an older stamp"), default));
        Assert.False(await state.IsValidAsync(Login("no-such-user", stamp), default));

        // A database that cannot be opened (its folder is a file): the check cannot tell, so the page stays.
        var blocked = Path.Combine(root, "not-a-folder");
        await File.WriteAllTextAsync(blocked, "");
        using var broken = Services(Path.Combine(blocked, "data"));
        Assert.True(await State(broken).IsValidAsync(Login(id, stamp), default));

    }
}
