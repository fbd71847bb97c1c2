using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Studio.Core.Hosting;

// A Studio.Worker: one Hangfire server on the configured queues (e.g. Studio__Queues=gpu-80g,cpu), nothing else.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
    DisableDefaults = false,
});
builder.Configuration.Sources.Clear();
builder.Configuration.AddStudioSettings(args);

var options = builder.Configuration.ReadStudioOptions();
try
{
    builder.Services.AddStudioCore(options);
    builder.Services.AddStudioWorker(options, "worker");
}
catch (Exception e) when (e is DataDirectoryException or StudioConfigurationException)
{
    Console.Error.WriteLine($"Studio.Worker cannot start: {e.Message}");
    return 2;
}

var host = builder.Build();
try
{
    await host.Services.MigrateStudioDatabaseAsync();
}
catch (StudioConfigurationException e)
{
    Console.Error.WriteLine($"Studio.Worker cannot start: {e.Message}");
    return 2;
}
Console.WriteLine($"Studio.Worker {host.Services.GetRequiredService<WorkerIdentity>().Name} serving queues [{string.Join(", ", options.QueueNames)}]" +
                  $" on {(string.IsNullOrWhiteSpace(options.Device) ? "the device each run names" : options.Device)}, database {options.DatabaseProvider}, queue storage {options.HangfireProvider}, artifacts {options.ArtifactRoot}");
await host.RunAsync();
return 0;
