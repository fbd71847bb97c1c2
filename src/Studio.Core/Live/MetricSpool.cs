using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore;
using Studio.Core.Data;
using Studio.Core.Artifacts;

namespace Studio.Core.Live;

/// <summary>
/// The durable copy of what one run's reporter has not delivered yet: a local JSON-lines file per reporter
/// (spool/run-ID-GUID.jsonl). Every metric point, validation point and log line is appended when reported (a write
/// to the file, which survives the process being killed; flushed to disk before each delivery attempt), and an
/// "ack" line follows each batch the database accepted; when that was everything, the file is emptied instead.
/// The file is deleted once everything in it is delivered.
/// A file left behind (the database was unreachable when the run ended, or the worker was killed) is delivered later
/// by <see cref="DeliverPendingAsync"/>; the file is locked while its reporter lives, so nobody delivers it twice.
/// </summary>
public sealed class MetricSpool : IDisposable
{
    static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>One line: a sequence number and one of a metric point, a validation point or an event; or an ack.</summary>
    /// <summary>F is the run's artifact folder, against which an event's relative artifact path resolves.</summary>
    sealed record Line(long N, MetricPoint? M = null, ValidationPoint? V = null, RunEvent? E = null, string? F = null, long? Ack = null);

    readonly FileStream _file;
    long _sequence;
    long _acked;

    public string Path { get; }

    public MetricSpool(string directory, int runId)
    {
        Directory.CreateDirectory(directory);
        Path = System.IO.Path.Combine(directory, $"run-{runId}-{Guid.NewGuid():N}.jsonl");
        // FileShare.None takes an exclusive lock: a delivery pass skips files whose reporter is still alive.
        _file = new FileStream(Path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
    }

    /// <summary>Appends one record; returns its sequence number (for <see cref="Acknowledge"/>).</summary>
    public long Append(MetricPoint? metric = null, ValidationPoint? validation = null, RunEvent? e = null, string? artifactFolder = null)
    {
        var n = ++_sequence;
        Write(new Line(n, metric, validation, e, artifactFolder));
        return n;
    }

    /// <summary>Makes everything appended so far survive a power loss (called before a delivery attempt).</summary>
    public void Sync() => _file.Flush(flushToDisk: true);

    /// <summary>Records that every record up to <paramref name="n"/> is in the database.</summary>
    public void Acknowledge(long n)
    {
        if (n <= _acked) return;
        _acked = n;
        // Everything delivered: start the file afresh, so a long run's spool stays small.
        if (AllDelivered) _file.SetLength(0);
        else Write(new Line(0, Ack: n));
    }

    public bool AllDelivered => _acked == _sequence;

    void Write(Line line)
    {
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(line, Json) + "\n");
        _file.Write(bytes);
        _file.Flush(flushToDisk: false);
    }

    /// <summary>Closes the file; deletes it when everything was delivered, else leaves it for a later delivery pass.</summary>
    public void Dispose()
    {
        var delivered = AllDelivered;
        _file.Dispose();
        if (delivered) File.Delete(Path);
    }

    /// <summary>
    /// Delivers every spool file in <paramref name="directory"/> that no live reporter holds: records after the last
    /// ack are stored (metric and validation points only where their key is still free, so a later, resumed attempt's
    /// points are never overwritten by an older one; log lines unless the same line is already stored; checkpoints
    /// and samples they name are recorded), then the file is deleted. Returns the number of records delivered.
    /// A file that cannot be delivered now stays for the next pass.
    /// </summary>
    public static async Task<int> DeliverPendingAsync(string directory, IDbContextFactory<StudioDbContext> dbFactory, CancellationToken ct = default)
    {
        if (!Directory.Exists(directory)) return 0;
        var delivered = 0;
        foreach (var path in Directory.EnumerateFiles(directory, "run-*.jsonl").Order())
        {
            FileStream file;
            try { file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) { continue; }   // its reporter is alive (locked), or it just went away
            await using (file)
            {
                var lines = new List<Line>();
                using (var reader = new StreamReader(file, Encoding.UTF8, leaveOpen: true))
                    while (await reader.ReadLineAsync(ct) is { } text)
                    {
                        // A line cut short by a kill mid-write is the last one; what it held was never acknowledged.
                        try { if (JsonSerializer.Deserialize<Line>(text, Json) is { } line) lines.Add(line); }
                        catch (JsonException) { }
                    }
                var acked = lines.Where(l => l.Ack is not null).Select(l => l.Ack!.Value).DefaultIfEmpty(0).Max();
                var pending = lines.Where(l => l.Ack is null && l.N > acked).ToList();
                if (pending.Count > 0) await StoreAsync(pending, dbFactory, ct);
                delivered += pending.Count;
            }
            File.Delete(path);
        }
        return delivered;
    }

    static async Task StoreAsync(List<Line> lines, IDbContextFactory<StudioDbContext> dbFactory, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var runIds = await db.Runs.Select(r => r.Id).ToListAsync(ct);
        bool Known(int runId) => runIds.Contains(runId);   // a run deleted meanwhile takes its data with it

        var metrics = lines.Where(l => l.M is not null && Known(l.M.RunId)).Select(l => l.M!)
            .GroupBy(p => (p.RunId, p.Stage, p.Step)).Select(g => g.Last()).ToList();
        await SqlUpsert.ExecuteAsync(db, tx, metrics, [nameof(MetricPoint.RunId), nameof(MetricPoint.Stage), nameof(MetricPoint.Step)], ct, keepExisting: true);
        var validation = lines.Where(l => l.V is not null && Known(l.V.RunId)).Select(l => l.V!)
            .GroupBy(p => (p.RunId, p.Stage, p.Step, p.Category)).Select(g => g.Last()).ToList();
        await SqlUpsert.ExecuteAsync(db, tx, validation,
            [nameof(ValidationPoint.RunId), nameof(ValidationPoint.Stage), nameof(ValidationPoint.Step), nameof(ValidationPoint.Category)], ct, keepExisting: true);

        foreach (var (e, folder) in lines.Where(l => l.E is not null && Known(l.E.RunId)).Select(l => (l.E!, l.F)))
        {
            // The batch holding this line may have been stored just before its reporter died (no ack yet).
            var from = e.Time.AddMilliseconds(-1);
            var to = e.Time.AddMilliseconds(1);
            if (await db.RunEvents.AnyAsync(x => x.RunId == e.RunId && x.Kind == e.Kind && x.Step == e.Step
                                                 && x.Message == e.Message && x.Time >= from && x.Time <= to, ct))
                continue;
            e.Id = 0;
            db.RunEvents.Add(e);
            await RunArtifacts.RecordAsync(db, e, folder, ct);
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }
}
