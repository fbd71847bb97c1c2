using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Studio.Core;
using Studio.Core.Hosting;

namespace Studio.Web.Auth;

/// <summary>Whether this studio asks people to log in, and why (shown on the pages).</summary>
public sealed record StudioAccess(bool LoginRequired, string Reason);

/// <summary>
/// Logins and roles. With logins required, ASP.NET Core Identity on the studio's database (<see cref="StudioIdentityDbContext"/>) signs people in with a
/// cookie, and every page, the hub, the HTTP API and the Hangfire dashboard need a signed-in user; changing things needs
/// the researcher (or admin) role, and users, workers and the dashboard need admin. Without logins (the single-user
/// default on 127.0.0.1) every request is the local admin, so the same policies hold everywhere without special cases.
/// </summary>
public static class StudioAuth
{
    public const string LocalScheme = "Local";
    public const string LoginPath = "/login";

    /// <summary>"auto" requires logins when any listening address is beyond the loopback interface.</summary>
    public static StudioAccess Decide(StudioOptions options, string? urls)
    {
        var mode = options.Auth.Trim().ToLowerInvariant();
        var addresses = (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var exposed = addresses.Where(a => !IsLoopback(a)).ToList();
        return mode switch
        {
            "required" or "on" => new(true, "logins are required by Studio:Auth"),
            "off" => new(false, "logins are off (Studio:Auth = off): everyone reaching this address is the admin"),
            "auto" or "" => exposed.Count > 0
                ? new(true, $"the studio listens beyond this machine ({string.Join(", ", exposed)})")
                : new(false, "single-user mode: the studio listens on 127.0.0.1 only, so no login is asked"),
            _ => throw new StudioConfigurationException($"Studio:Auth: unknown value '{options.Auth}' (auto, required or off)"),
        };
    }

    static bool IsLoopback(string url)
    {
        var host = url.Contains("://") ? url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..] : url;
        host = host.Split('/')[0];
        if (host.StartsWith('[')) host = host[1..host.IndexOf(']')];
        else if (host.Count(c => c == ':') == 1) host = host[..host.IndexOf(':')];
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
    }

    public static StudioAccess AddStudioAuth(this WebApplicationBuilder builder, StudioOptions options)
    {
        var urls = builder.Configuration["urls"] ?? Environment.GetEnvironmentVariable("ASPNETCORE_URLS");
        var access = Decide(options, urls);
        builder.Services.AddSingleton(access);
        builder.Services.AddCascadingAuthenticationState();
        StudioIdentityDbContext.AddStudioIdentityDatabase(builder.Services, options);
        builder.Services.AddIdentityCore<StudioUser>(identity =>
            {
                // Length over composition rules (NIST SP 800-63B).
                identity.Password.RequiredLength = 10;
                identity.Password.RequireNonAlphanumeric = false;
                identity.Password.RequireDigit = false;
                identity.Password.RequireUppercase = false;
                identity.Password.RequireLowercase = false;
                identity.Lockout.MaxFailedAccessAttempts = 10;
            })
            .AddRoles<IdentityRole>()
            .AddEntityFrameworkStores<StudioIdentityDbContext>()
            .AddSignInManager();

        // A login cookie is checked against the user's security stamp on every request (one lookup), not every 30
        // minutes: a deleted user, or one whose role changed (the Users page renews the stamp), is out at once.
        builder.Services.Configure<SecurityStampValidatorOptions>(o => o.ValidationInterval = TimeSpan.Zero);
        // An open page checks it every few seconds (its circuit outlives the request that opened it).
        if (access.LoginRequired) builder.Services.AddScoped<Microsoft.AspNetCore.Components.Authorization.AuthenticationStateProvider, RevalidatingIdentityState>();

        var authentication = builder.Services.AddAuthentication(access.LoginRequired ? IdentityConstants.ApplicationScheme : LocalScheme);
        authentication.AddIdentityCookies(cookies => cookies.ApplicationCookie?.Configure(cookie =>
        {
            cookie.LoginPath = LoginPath;
            cookie.AccessDeniedPath = "/denied";
            // The API and the hub answer 401/403 instead of redirecting scripts to a login page.
            cookie.Events.OnRedirectToLogin = context => Answer(context, StatusCodes.Status401Unauthorized);
            cookie.Events.OnRedirectToAccessDenied = context => Answer(context, StatusCodes.Status403Forbidden);
        }));
        authentication.AddScheme<AuthenticationSchemeOptions, LocalUserHandler>(LocalScheme, null);

        builder.Services.AddAuthorization(policies =>
        {
            policies.FallbackPolicy = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build();
            policies.AddPolicy(StudioRoles.CanChange, p => p.RequireRole(StudioRoles.Admin, StudioRoles.Researcher));
            policies.AddPolicy(StudioRoles.CanAdminister, p => p.RequireRole(StudioRoles.Admin));
        });
        return access;
    }

    static Task Answer(RedirectContext<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions> context, int status)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/api") || path.StartsWithSegments("/hubs") || path.StartsWithSegments("/hangfire"))
            context.Response.StatusCode = status;
        else
            context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }

    /// <summary>Where a login goes back to: a path of this studio, else "/" (never another site, nor "//host").</summary>
    public static string LocalReturnUrl(string? returnUrl) =>
        string.IsNullOrEmpty(returnUrl) || !returnUrl.StartsWith('/') || returnUrl.StartsWith("//") ? "/" : returnUrl;

    /// <summary>The login and logout endpoints (plain form posts: a cookie can only be set on an HTTP response).</summary>
    public static void MapStudioAccount(this WebApplication app)
    {
        app.MapPost("/account/login", async ([FromForm] string userName, [FromForm] string password, [FromForm] string? returnUrl,
            SignInManager<StudioUser> signIn) =>
        {
            var result = await signIn.PasswordSignInAsync(userName, password, isPersistent: true, lockoutOnFailure: true);
            var back = LocalReturnUrl(returnUrl);
            if (result.Succeeded) return Results.LocalRedirect(back);
            var why = result.IsLockedOut ? "locked" : "failed";
            return Results.LocalRedirect($"{LoginPath}?error={why}&returnUrl={Uri.EscapeDataString(back)}");
        }).AllowAnonymous();
        app.MapPost("/account/logout", async (SignInManager<StudioUser> signIn) =>
        {
            await signIn.SignOutAsync();
            return Results.LocalRedirect(LoginPath);
        });
    }

    /// <summary>Brings the users' tables to the current model (after the studio's: <see cref="StudioIdentityDbContext.MigrateAsync"/>).</summary>
    public static async Task MigrateUsersAsync(IServiceProvider services, CancellationToken ct = default)
    {
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<StudioIdentityDbContext>().MigrateAsync(ct);
    }

    /// <summary>
    /// With logins required and no user yet: creates the roles and an "admin" user with Studio:AdminPassword, or a
    /// random password printed once and saved (owner-only) in the data directory.
    /// </summary>
    public static async Task EnsureFirstAdminAsync(IServiceProvider services, StudioOptions options, StudioAccess access)
    {
        await using var scope = services.CreateAsyncScope();
        var roles = scope.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>();
        foreach (var role in StudioRoles.All)
            if (!await roles.RoleExistsAsync(role))
                Check(await roles.CreateAsync(new IdentityRole(role)), $"role '{role}'");
        if (!access.LoginRequired) return;
        var users = scope.ServiceProvider.GetRequiredService<UserManager<StudioUser>>();
        if (users.Users.Any()) return;

        var password = options.AdminPassword;
        var generated = string.IsNullOrEmpty(password);
        if (generated) password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(15)).Replace('/', 'x').Replace('+', 'y');
        var admin = new StudioUser { UserName = "admin" };
        Check(await users.CreateAsync(admin, password), "the first admin (Studio:AdminPassword)");
        Check(await users.AddToRoleAsync(admin, StudioRoles.Admin), "the first admin's role");
        if (generated)
        {
            var file = Path.Combine(options.ResolvedDataDirectory, "initial-admin-password.txt");
            File.Delete(file);
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var stream = new FileStream(file, create))
                stream.Write(System.Text.Encoding.UTF8.GetBytes(password + "\n"));
            Console.WriteLine($"Logins are required. First user: admin, password {password} (also in {file}); change it on the Users page.");
        }
    }

    static void Check(IdentityResult result, string what)
    {
        if (!result.Succeeded)
            throw new StudioConfigurationException($"could not create {what}: {string.Join("; ", result.Errors.Select(e => e.Description))}");
    }
}

/// <summary>Single-user mode: every request is the local admin.</summary>
sealed class LocalUserHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    static readonly ClaimsPrincipal LocalAdmin = new(new ClaimsIdentity(
        [new Claim(ClaimTypes.Name, "local"), new Claim(ClaimTypes.Role, StudioRoles.Admin)], StudioAuth.LocalScheme));

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
        Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(LocalAdmin, StudioAuth.LocalScheme)));
}

/// <summary>The Hangfire dashboard: admins when logins are required, otherwise requests from this machine only.</summary>
sealed class DashboardAccess(StudioAccess access) : IDashboardAuthorizationFilter
{
    static readonly LocalRequestsOnlyAuthorizationFilter LocalOnly = new();

    public bool Authorize(DashboardContext context) => access.LoginRequired
        ? context.GetHttpContext().User.IsInRole(StudioRoles.Admin)
        : LocalOnly.Authorize(context);
}
