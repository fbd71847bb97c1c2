using Hangfire;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MudBlazor.Services;
using System.Text.Json.Serialization;
using Studio.Core.Live;
using Studio.Core.Prompts;
using Studio.Web.Api;
using Studio.Core.Hosting;
using Studio.Core.Queue;
using Studio.Web.Components;
using Studio.Web.Hubs;
using Studio.Web.Auth;
using Studio.Web.Help;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
});
builder.Configuration.Sources.Clear();
builder.Configuration.AddStudioSettings(args);
// Serve MudBlazor's packaged assets and the repository's wwwroot when running from bin/ in any environment.
builder.WebHost.UseStaticWebAssets();

var options = builder.Configuration.ReadStudioOptions();
try
{
    builder.Services.AddStudioCore(options);
    if (options.InProcessWorker) builder.Services.AddStudioWorker(options, "web");
}
catch (Exception e) when (e is DataDirectoryException or StudioConfigurationException)
{
    Console.Error.WriteLine($"Distill Studio cannot start: {e.Message}");
    return 2;
}
StudioAccess access;
try
{
    access = builder.AddStudioAuth(options);
}
catch (StudioConfigurationException e)
{
    Console.Error.WriteLine($"Distill Studio cannot start: {e.Message}");
    return 2;
}

builder.Services.AddDataProtection()
    .SetApplicationName("DistillStudio")
    .PersistKeysToFileSystem(new DirectoryInfo(options.KeysDirectory));
builder.Services.AddSingleton<QueueStatus>();
// Page services: a page's reads and actions, one per circuit (they may keep what the page reads often).
builder.Services.AddScoped<Studio.Web.Components.Runs.NewRunService>();
builder.Services.AddScoped<Studio.Web.Components.Generations.GenerateService>();
builder.Services.Replace(ServiceDescriptor.Singleton<IRunBroadcaster, HubRunBroadcaster>());
builder.Services.Replace(ServiceDescriptor.Singleton<IEvaluationBroadcaster, HubEvaluationBroadcaster>());
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
// Messages appear at the bottom right, where they cover no page header or its buttons.
builder.Services.AddMudServices(mud => mud.SnackbarConfiguration.PositionClass = MudBlazor.Defaults.Classes.Position.BottomRight);
var signalR = builder.Services.AddSignalR().AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()));
// Web instances behind a load balancer share hub groups through Redis (Studio:Redis).
if (!string.IsNullOrWhiteSpace(options.Redis))
    signalR.AddStackExchangeRedis(options.Redis, redis => redis.Configuration.ChannelPrefix = StackExchange.Redis.RedisChannel.Literal("distill-studio"));
// What other processes do (runs, generations, evaluations, workers) reaches this host's pages through the shared database
// and Hangfire's storage (LiveTailer); runs are kept true to
// Hangfire's job states and the workers' heartbeats.
builder.Services.AddHostedService<LiveTailer>();
builder.Services.AddHostedService<RunReconcilerService>();
builder.Services.AddStudioApi();
builder.Services.AddStudioHelp();
builder.Services.AddHealthChecks();

var app = builder.Build();

try
{
    await app.Services.MigrateStudioDatabaseAsync();
    await StudioAuth.MigrateUsersAsync(app.Services);
    await StudioAuth.EnsureFirstAdminAsync(app.Services, options, access);
}
catch (StudioConfigurationException e)
{
    Console.Error.WriteLine($"Distill Studio cannot start: {e.Message}");
    return 2;
}
await app.Services.GetRequiredService<PromptSetService>().EnsureBuiltInAsync();
await app.Services.GetRequiredService<Studio.Core.ModelRegistry.ModelService>().EnsureBuiltInAsync();

if (!app.Environment.IsDevelopment()) app.UseExceptionHandler("/Error", createScopeForErrors: true);
// A browser's GET of an address no page answers gets the studio's "not found" page (status 404 kept). Only page
// addresses: the API, the hubs, Hangfire and the framework keep their own answers (a 401 stays a 401).
app.UseWhen(context => HttpMethods.IsGet(context.Request.Method) && !NotPages.Any(p => context.Request.Path.StartsWithSegments(p)),
    pages => pages.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true));
// Routing after the re-execution, so a re-executed request is routed to the page again.
app.UseRouting();
app.UseAuthentication();
app.UseAuthorization();
app.UseStudioApiErrors();
app.UseAntiforgery();
app.MapStaticAssets().AllowAnonymous();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
app.MapHub<RunsHub>(RunsHub.Path);
app.MapStudioApi();
app.MapStudioAccount();
app.MapHealthChecks("/healthz").AllowAnonymous();
app.MapStudioHelp();
app.MapHangfireDashboard("/hangfire", new DashboardOptions
{
    DashboardTitle = "Distill Studio queue",
    Authorization = [new DashboardAccess(access)],
});

app.Lifetime.ApplicationStarted.Register(() =>
{
    foreach (var url in app.Urls) Console.WriteLine($"Distill Studio is listening on {url}");
    Console.WriteLine(access.LoginRequired ? $"Logins required: {access.Reason}." : $"No login: {access.Reason}.");
    Console.WriteLine($"Data directory: {options.ResolvedDataDirectory}");
});

await app.RunAsync();
return 0;

public partial class Program
{
    /// <summary>Address prefixes that are not pages, so never get the "not found" page.</summary>
    static readonly string[] NotPages = ["/api", "/hubs", "/hangfire", "/_blazor", "/_framework", "/_content", "/healthz", "/account", HelpDocuments.ImagesPath];
}
