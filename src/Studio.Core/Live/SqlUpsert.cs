using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Studio.Core.Live;

/// <summary>
/// Batched "insert, or replace the row with the same key" for one entity type, with the table and column names taken
/// from the EF model. ON CONFLICT ... DO UPDATE is understood by SQLite and PostgreSQL alike. With
/// <c>keepExisting</c>, a row whose key is taken is skipped instead (ON CONFLICT DO NOTHING).
/// </summary>
static class SqlUpsert
{
    public static async Task ExecuteAsync<T>(DbContext db, IDbContextTransaction tx, IReadOnlyList<T> rows,
        string[] keyProperties, CancellationToken ct, bool keepExisting = false) where T : class
    {
        if (rows.Count == 0) return;
        var entity = db.Model.FindEntityType(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not in the model");
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        var columns = entity.GetProperties().Where(p => p.ValueGenerated == Microsoft.EntityFrameworkCore.Metadata.ValueGenerated.Never).ToList();
        string Col(IProperty p) => $"\"{p.GetColumnName(table)}\"";

        var keys = keyProperties.Select(k => Col(entity.FindProperty(k)!)).ToList();
        var updates = columns.Where(c => !keyProperties.Contains(c.Name)).Select(c => $"{Col(c)} = excluded.{Col(c)}");
        var sql = $"INSERT INTO \"{table.Name}\" ({string.Join(", ", columns.Select(Col))}) " +
                  $"VALUES ({string.Join(", ", columns.Select((_, i) => "@p" + i))}) " +
                  $"ON CONFLICT ({string.Join(", ", keys)}) " +
                  (keepExisting ? "DO NOTHING" : $"DO UPDATE SET {string.Join(", ", updates)}");

        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = tx.GetDbTransaction();
        command.CommandText = sql;
        var parameters = new DbParameter[columns.Count];
        for (int i = 0; i < columns.Count; i++)
        {
            parameters[i] = command.CreateParameter();
            parameters[i].ParameterName = "@p" + i;
            command.Parameters.Add(parameters[i]);
        }
        foreach (var row in rows)
        {
            for (int i = 0; i < columns.Count; i++)
            {
                var value = columns[i].PropertyInfo!.GetValue(row);
                if (value is not null && columns[i].GetValueConverter() is { } converter) value = converter.ConvertToProvider(value);
                parameters[i].Value = value ?? DBNull.Value;
            }
            await command.ExecuteNonQueryAsync(ct);
        }
    }
}
