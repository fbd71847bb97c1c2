using System.Text;
using System.Text.Json;

namespace Studio.Ml.Prompts;

public enum PromptFileFormat { Text, Json, JsonLines, Csv }

/// <summary>One prompt of a file, with the line it came from (1-based) and its category when the file gives one.</summary>
public sealed record PromptEntry(int LineNumber, string Text, string? Category);

/// <summary>A line that could not be read as a prompt, and why.</summary>
public sealed record PromptIssue(int LineNumber, string Message)
{
    public override string ToString() => $"line {LineNumber}: {Message}";
}

public sealed record PromptReadOptions
{
    /// <summary>Files larger than this are refused before reading.</summary>
    public long MaxFileBytes { get; init; } = 64L * 1024 * 1024;
    /// <summary>Prompts longer than this (in characters, after trimming) are skipped and counted.</summary>
    public int MaxPromptChars { get; init; } = 4000;
    /// <summary>The category of prompts whose record carries none.</summary>
    public string? DefaultCategory { get; init; }
}

/// <summary>What a prompt file held: the prompts, and every line that was not taken, by reason and line number.</summary>
public sealed record PromptSetReadResult(
    string Source,
    PromptFileFormat Format,
    IReadOnlyList<PromptEntry> Prompts,
    IReadOnlyList<PromptIssue> BadLines,
    IReadOnlyList<int> EmptyLines,
    IReadOnlyList<int> TooLongLines)
{
    public int SkippedCount => BadLines.Count + EmptyLines.Count + TooLongLines.Count;

    /// <summary>One line a person reads: how many prompts were taken and what was skipped.</summary>
    public string Summary =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{Source}: {Prompts.Count:N0} prompts; {EmptyLines.Count:N0} empty, {TooLongLines.Count:N0} too long, {BadLines.Count:N0} bad lines skipped");
}

/// <summary>A prompt file that cannot be read at all (too large, unknown format, malformed JSON document, no text column).</summary>
public sealed class PromptFileException(string message) : Exception(message);

/// <summary>
/// Reads prompt files: plain text (one prompt per line), a JSON list (strings, or objects with "text" and an
/// optional "category"), JSON Lines (one such object or string per line) and CSV with a header naming a "text" column
/// (and optionally "category"). Bad records are reported by line number; empty and over-long prompts are counted and
/// skipped, never dropped silently. Pure: no database, no web types (the trainer and the studio share it).
/// </summary>
public static class PromptSetReader
{
    /// <summary>Field names accepted for the prompt text, in order of preference.</summary>
    public static readonly string[] TextFields = ["text", "prompt", "caption"];
    public const string CategoryField = "category";

    public static PromptFileFormat FormatOf(string fileName) => Path.GetExtension(fileName).ToLowerInvariant() switch
    {
        ".txt" => PromptFileFormat.Text,
        ".json" => PromptFileFormat.Json,
        ".jsonl" or ".ndjson" => PromptFileFormat.JsonLines,
        ".csv" => PromptFileFormat.Csv,
        var other => throw new PromptFileException(
            $"{fileName}: unknown prompt file type '{other}' (use .txt one per line, .json list, .jsonl or .csv with a text column)"),
    };

    public static PromptSetReadResult Read(string path, PromptReadOptions? options = null)
    {
        options ??= new();
        if (!File.Exists(path)) throw new PromptFileException($"{path}: no such prompt file");
        var length = new FileInfo(path).Length;
        if (length > options.MaxFileBytes)
            throw new PromptFileException($"{path}: {length:N0} bytes is over the limit of {options.MaxFileBytes:N0} bytes");
        using var stream = File.OpenRead(path);
        return Read(stream, path, FormatOf(path), options);
    }

    /// <summary>Reads a stream (an upload); <paramref name="name"/> names it in messages.</summary>
    public static PromptSetReadResult Read(Stream stream, string name, PromptFileFormat format, PromptReadOptions? options = null)
    {
        options ??= new();
        var text = ReadLimited(stream, name, options.MaxFileBytes);
        var collector = new Collector(options);
        switch (format)
        {
            case PromptFileFormat.Text: ReadText(text, collector); break;
            case PromptFileFormat.Json: ReadJson(text, name, collector); break;
            case PromptFileFormat.JsonLines: ReadJsonLines(text, collector); break;
            case PromptFileFormat.Csv: ReadCsv(text, name, collector); break;
            default: throw new ArgumentOutOfRangeException(nameof(format), format, null);
        }
        return new PromptSetReadResult(name, format, collector.Prompts, collector.Bad, collector.Empty, collector.TooLong);
    }

    static string ReadLimited(Stream stream, string name, long maxBytes)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                throw new PromptFileException($"{name}: more than the limit of {maxBytes:N0} bytes");
            buffer.Write(chunk, 0, read);
        }
        if (NotUtf8(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) is { } fault) throw new PromptFileException($"{name}: {fault}");
        buffer.Position = 0;
        using var reader = new StreamReader(buffer, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>Where a file that is not UTF-8 (nor UTF-16/32 with a byte order mark) first fails, by line; null when it reads.</summary>
    static string? NotUtf8(ReadOnlySpan<byte> bytes)
    {
        if (bytes is [0xFF, 0xFE, ..] or [0xFE, 0xFF, ..] || System.Text.Unicode.Utf8.IsValid(bytes)) return null;
        var offset = 0;
        while (Rune.DecodeFromUtf8(bytes[offset..], out _, out var consumed) == System.Buffers.OperationStatus.Done) offset += consumed;
        var line = bytes[..offset].Count((byte)'\n') + 1;
        return $"line {line}: not UTF-8 text (byte 0x{bytes[offset]:X2} at offset {offset}); save the file as UTF-8";
    }

    static IEnumerable<(int Number, string Line)> Lines(string text)
    {
        int number = 0;
        using var reader = new StringReader(text);
        while (reader.ReadLine() is { } line) yield return (++number, line);
    }

    static void ReadText(string text, Collector c)
    {
        foreach (var (number, line) in Lines(text)) c.Add(number, line, null);
    }

    static void ReadJsonLines(string text, Collector c)
    {
        foreach (var (number, line) in Lines(text))
        {
            if (string.IsNullOrWhiteSpace(line)) { c.Empty.Add(number); continue; }
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { c.Bad.Add(new PromptIssue(number, $"not valid JSON ({FirstSentence(e.Message)})")); continue; }
            using (doc) c.AddElement(number, doc.RootElement);
        }
    }

    static void ReadJson(string text, string name, Collector c)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var lineStarts = LineStarts(bytes);
        int LineAt(long offset) { int i = lineStarts.BinarySearch(offset); return (i >= 0 ? i : ~i - 1) + 1; }

        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                throw new PromptFileException($"{name}: a JSON prompt file must be a list ([\"prompt\", ...] or [{{\"text\": ..., \"category\": ...}}, ...])");
            var entry = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var line = LineAt(reader.TokenStartIndex);
                using var element = JsonDocument.ParseValue(ref reader);
                c.AddElement(line, element.RootElement, ++entry);
            }
            if (reader.Read()) throw new PromptFileException($"{name}: line {LineAt(reader.TokenStartIndex)}: unexpected content after the list");
        }
        catch (JsonException e)
        {
            throw new PromptFileException($"{name}: line {(e.LineNumber ?? 0) + 1}: not valid JSON ({FirstSentence(e.Message)})");
        }
    }

    static List<long> LineStarts(byte[] bytes)
    {
        var starts = new List<long> { 0 };
        for (int i = 0; i < bytes.Length; i++) if (bytes[i] == (byte)'\n') starts.Add(i + 1);
        return starts;
    }

    static void ReadCsv(string text, string name, Collector c)
    {
        using var rows = CsvRows(text).GetEnumerator();
        if (!rows.MoveNext()) return;
        var header = rows.Current;
        if (header.Error is not null) throw new PromptFileException($"{name}: line {header.Line}: {header.Error}");
        var columns = header.Fields.Select(f => f.Trim().ToLowerInvariant()).ToList();
        var textColumn = TextFields.Select(f => columns.IndexOf(f)).FirstOrDefault(i => i >= 0, -1);
        if (textColumn < 0)
            throw new PromptFileException(
                $"{name}: the first line must be a header naming a text column ({string.Join(", ", TextFields)}); found: {string.Join(", ", header.Fields)}");
        var categoryColumn = columns.IndexOf(CategoryField);
        while (rows.MoveNext())
        {
            var row = rows.Current;
            if (row.Error is not null) { c.Bad.Add(new PromptIssue(row.Line, row.Error)); continue; }
            if (row.Fields.Count == 1 && row.Fields[0].Length == 0) { c.Empty.Add(row.Line); continue; }
            if (row.Fields.Count != columns.Count)
            {
                c.Bad.Add(new PromptIssue(row.Line, $"{row.Fields.Count} fields where the header has {columns.Count}"));
                continue;
            }
            c.Add(row.Line, row.Fields[textColumn], categoryColumn >= 0 ? row.Fields[categoryColumn] : null);
        }
    }

    sealed record CsvRow(int Line, List<string> Fields, string? Error);

    /// <summary>RFC 4180 records: commas separate, double quotes enclose (a field may then hold commas and line breaks), "" is a quote.</summary>
    static IEnumerable<CsvRow> CsvRows(string text)
    {
        int i = 0, line = 1;
        while (i < text.Length)
        {
            int startLine = line;
            var fields = new List<string>();
            var field = new StringBuilder();
            string? error = null;
            bool quoted = false, endOfRecord = false;
            while (i < text.Length && !endOfRecord)
            {
                char ch = text[i];
                if (quoted)
                {
                    if (ch == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i += 2; continue; }
                    if (ch == '"') { quoted = false; i++; continue; }
                    if (ch == '\n') line++;
                    field.Append(ch); i++;
                    continue;
                }
                switch (ch)
                {
                    case '"' when field.Length == 0: quoted = true; i++; break;
                    case ',': fields.Add(field.ToString()); field.Clear(); i++; break;
                    case '\r': i++; break;
                    case '\n': endOfRecord = true; line++; i++; break;
                    default: field.Append(ch); i++; break;
                }
            }
            if (quoted)
            {
                // An unterminated quote swallows the rest of the file: report it where it began.
                error = "a quoted field is never closed";
            }
            fields.Add(field.ToString());
            yield return new CsvRow(startLine, fields, error);
        }
    }

    static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end > 0 ? message[..end] : message.TrimEnd('.');
    }

    sealed class Collector(PromptReadOptions options)
    {
        public readonly List<PromptEntry> Prompts = [];
        public readonly List<PromptIssue> Bad = [];
        public readonly List<int> Empty = [];
        public readonly List<int> TooLong = [];

        public void Add(int line, string? text, string? category)
        {
            var prompt = text?.Trim() ?? "";
            if (prompt.Length == 0) { Empty.Add(line); return; }
            if (prompt.Length > options.MaxPromptChars) { TooLong.Add(line); return; }
            var cat = string.IsNullOrWhiteSpace(category) ? options.DefaultCategory : category.Trim();
            Prompts.Add(new PromptEntry(line, prompt, cat));
        }

        /// <param name="entry">Which element of a JSON list (1-based), named in its issues: a list on one line has one line number.</param>
        public void AddElement(int line, JsonElement e, int? entry = null)
        {
            void Issue(string message) => Bad.Add(new PromptIssue(line, entry is { } n ? $"entry {n}: {message}" : message));
            switch (e.ValueKind)
            {
                case JsonValueKind.String:
                    Add(line, e.GetString(), null);
                    return;
                case JsonValueKind.Object:
                    string? text = null;
                    foreach (var field in TextFields)
                        if (e.TryGetProperty(field, out var t))
                        {
                            if (t.ValueKind != JsonValueKind.String) { Issue($"\"{field}\" is a {t.ValueKind.ToString().ToLowerInvariant()}, not a string"); return; }
                            text = t.GetString();
                            break;
                        }
                    if (text is null) { Issue($"no \"text\" field (expected one of {string.Join(", ", TextFields)})"); return; }
                    string? category = null;
                    if (e.TryGetProperty(CategoryField, out var cat))
                    {
                        if (cat.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)) { Issue("\"category\" is not a string"); return; }
                        category = cat.GetString();
                    }
                    Add(line, text, category);
                    return;
                default:
                    Issue($"a {e.ValueKind.ToString().ToLowerInvariant()} where a prompt string or object was expected");
                    return;
            }
        }
    }
}
