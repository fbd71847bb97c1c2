using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Studio.Core.Data;

namespace Studio.Core.Live;

/// <summary>
/// On every host that runs jobs: delivers the spool files that reporters left behind (the database was unreachable,
/// or a worker was killed) at start and then every few seconds, until the database takes them.
/// </summary>
public sealed class SpoolDeliveryService(IDbContextFactory<StudioDbContext> dbFactory, StudioOptions options) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var delivered = await MetricSpool.DeliverPendingAsync(options.SpoolDirectory, dbFactory, stoppingToken);
                if (delivered > 0) Console.WriteLine($"Delivered {delivered} spooled metric records from {options.SpoolDirectory}");
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception e) { Console.Error.WriteLine($"spool delivery failed (retried in {Interval.TotalSeconds:0} s): {e.Message}"); }
            try { await Task.Delay(Interval, stoppingToken); } catch (OperationCanceledException) { break; }
        }
    }
}
