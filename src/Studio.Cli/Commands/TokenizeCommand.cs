using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Studio.Ml.Tensors;
using Studio.Ml.Text;

namespace Studio.Cli;

/// <summary>
/// `studio tokenize --tokenizer DIR --in PROMPTS.jsonl --out IDS.jsonl`: each input line `{"text": ...}` becomes an
/// output line `{"text": ..., "ids": [...]}`, with the special tokens, no truncation and no padding. The tokenizer kind
/// (T5 or CLIP) comes from the files in DIR. Blank input lines are skipped; any other bad line is an error naming the
/// file and line, and nothing is written.
/// </summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "A tokenizer folder (T5: tokenizer.json or spiece.model; CLIP: vocab.json + merges.txt)", Required = true };
        var input = new Option<string>("--in") { Description = "JSON lines, each {\"text\": ...}", Required = true };
        var output = new Option<string>("--out") { Description = "Where to write JSON lines {\"text\": ..., \"ids\": [...]}", Required = true };
        var command = new Command("tokenize", "Tokenize prompts with a T5 or CLIP tokenizer folder (no truncation, no padding).") { tokenizer, input, output };
        command.SetAction(parse =>
        {
            Run(parse.GetValue(tokenizer)!, parse.GetValue(input)!, parse.GetValue(output)!);
            return 0;
        });
        return command;
    }

    static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Run(string tokenizerFolder, string inputPath, string outputPath)
    {
        var tokenizer = TextTokenizer.Load(tokenizerFolder);
        if (!File.Exists(inputPath)) throw new FileNotFoundException($"{inputPath}: no such file", inputPath);
        var texts = ReadPrompts(inputPath);
        AtomicFile.Write(outputPath, stream =>
        {
            foreach (var text in texts)
            {
                using (var writer = new Utf8JsonWriter(stream, WriterOptions))
                {
                    writer.WriteStartObject();
                    writer.WriteString("text", text);
                    writer.WriteStartArray("ids");
                    foreach (var id in tokenizer.Encode(text)) writer.WriteNumberValue(id);
                    writer.WriteEndArray();
                    writer.WriteEndObject();
                }
                stream.WriteByte((byte)'\n');
            }
        });
    }

    static List<string> ReadPrompts(string path)
    {
        var texts = new List<string>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{path}:{lineNumber}: expected a JSON object {{\"text\": ...}}, found {doc.RootElement.ValueKind}");
                if (!doc.RootElement.TryGetProperty("text", out var text))
                    throw new InvalidDataException($"{path}:{lineNumber}: no \"text\" field");
                if (text.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}:{lineNumber}: \"text\" is {text.ValueKind}, not a string");
                texts.Add(text.GetString()!);
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not valid JSON ({e.Message})", e);
            }
        }
        return texts;
    }
}
