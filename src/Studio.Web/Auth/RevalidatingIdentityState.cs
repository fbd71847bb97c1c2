using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Studio.Web.Auth;

/// <summary>
/// An open page (a Blazor circuit) checks its user against the user's security stamp every <see cref="Interval"/>, as
/// every HTTP request does: the page of a user deleted, or whose role changed, on the Users page (which renews the
/// stamp) goes to the login page within seconds (<c>SignedOutRedirect</c>) instead of keeping the old role until reloaded.
/// </summary>
public sealed class RevalidatingIdentityState(ILoggerFactory loggers, IServiceScopeFactory scopes, IOptions<IdentityOptions> identity)
    : RevalidatingServerAuthenticationStateProvider(loggers)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override TimeSpan RevalidationInterval => Interval;

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState state, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<StudioUser>>();
        // The user still exists, with the stamp its login carries.
        var user = await users.GetUserAsync(state.User);
        return user is not null
               && state.User.FindFirstValue(identity.Value.ClaimsIdentity.SecurityStampClaimType) == await users.GetSecurityStampAsync(user);
    }
}
