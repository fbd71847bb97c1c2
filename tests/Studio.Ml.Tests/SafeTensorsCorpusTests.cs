using System.Text;
using System.Text.Json;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests;

/// <summary>
/// Malformed safetensors files and indexes: each must be refused with an error naming the file and the fault, before
/// any tensor is read; never a crash, a hang or a huge allocation.
/// </summary>
public class SafeTensorsCorpusTests
{
    public SafeTensorsCorpusTests() => TorchRuntime.Initialise();

    static readonly string Folder = TestPaths.NewTempDirectory("st-corpus");

    /// <summary>A file of the given header text and data bytes; the declared header length is the real one unless given.</summary>
    static string Write(string name, string header, int dataBytes, ulong? declaredLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var path = Path.Combine(Folder, name + ".safetensors");
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes(declaredLength ?? (ulong)json.Length));
        stream.Write(json);
        stream.Write(new byte[dataBytes]);
        return path;
    }

    static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\": {{\"dtype\": \"{dtype}\", \"shape\": {shape}, \"data_offsets\": [{begin}, {end}]}}";

    static void AssertRefused(string path, string fault)
    {
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(fault, e.Fault);
        // A checkpoint opened from the same file reports the same fault.
        Assert.Contains(fault, Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.Open(path).Dispose()).Fault);
    }

    [Fact]
    public void AWellFormedFileOfTheCorpusOpens()
    {
        var path = Write("valid", "{" + Entry("a", "F32", "[2, 3]", 0, 24) + ", " + Entry("b", "BF16", "[4]", 24, 32) + "}", 32);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(2, file.Entries.Count);
        using var b = file.Read("b");
        Assert.Equal(ScalarType.BFloat16, b.dtype);
    }

    [Fact]
    public void TruncatedFiles()
    {
        var tiny = Path.Combine(Folder, "tiny.safetensors");
        File.WriteAllBytes(tiny, [1, 0, 0]);
        AssertRefused(tiny, "truncated");
        AssertRefused(Truncate(Write("in-header", "{" + Entry("a", "F32", "[4]", 0, 16) + "}", 16), 20), "runs past the end of the file");
        AssertRefused(Truncate(Write("in-data", "{" + Entry("a", "F32", "[4]", 0, 16) + "}", 16), -5), "run past the end of the file");
    }

    static string Truncate(string path, int length)
    {
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(length >= 0 ? length : bytes.Length + length)]);
        return path;
    }

    [Fact]
    public void LyingHeaderLengths()
    {
        var header = "{" + Entry("a", "F32", "[4]", 0, 16) + "}";
        AssertRefused(Write("length-too-long", header, 16, declaredLength: (ulong)header.Length + 100), "runs past the end of the file");
        AssertRefused(Write("length-too-short", header, 16, declaredLength: (ulong)header.Length - 10), "not valid JSON");
        AssertRefused(Write("length-huge", header, 16, declaredLength: ulong.MaxValue), "exceeds the limit");
        AssertRefused(Write("length-zero", header, 16, declaredLength: 0), "does not start with '{'");
    }

    [Fact]
    public void HeadersThatAreNotAJsonObject()
    {
        AssertRefused(Write("not-json", "{\"a\": {\"dtype\": F32", 0), "not valid JSON");
        AssertRefused(Write("array", "[1, 2]", 0), "does not start with '{'");
        AssertRefused(Write("binary", "\u0001\u0002garbage", 0), "does not start with '{'");
        var invalidUtf8 = Write("invalid-utf8", "{\"__metadata__\": {\"note\": \"xx\"}}", 0);
        var bytes = File.ReadAllBytes(invalidUtf8);
        bytes[8 + "{\"__metadata__\": {\"note\": \"".Length] = 0x9C;
        File.WriteAllBytes(invalidUtf8, bytes);
        AssertRefused(invalidUtf8, "not valid UTF-8");
        AssertRefused(Write("entry-not-object", "{\"a\": 3}", 0), "entry is not an object");
        AssertRefused(Write("metadata-not-strings", "{\"__metadata__\": {\"format\": 3}}", 0), "not a string");
        AssertRefused(Write("deep", "{\"a\": " + new string('[', 5000) + new string(']', 5000) + "}", 0), "not valid JSON");
    }

    [Fact]
    public void UnknownDTypeAndMissingFields()
    {
        AssertRefused(Write("dtype-f8", "{" + Entry("a", "F8_E4M3", "[4]", 0, 4) + "}", 4), "unknown dtype 'F8_E4M3'");
        AssertRefused(Write("no-dtype", "{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "missing dtype");
        AssertRefused(Write("no-shape", "{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4), "missing shape");
        AssertRefused(Write("no-offsets", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4), "data_offsets");
        AssertRefused(Write("string-offsets", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [\"0\", \"4\"]}}", 4), "not two integers");
        AssertRefused(Write("negative-offsets", "{" + Entry("a", "F32", "[1]", -4, 0) + "}", 4), "not two integers");
        AssertRefused(Write("negative-dim", "{" + Entry("a", "F32", "[-1]", 0, 4) + "}", 4), "shape entry 0");
        AssertRefused(Write("fractional-dim", "{" + Entry("a", "F32", "[1.5]", 0, 4) + "}", 4), "shape entry 0");
    }

    [Fact]
    public void ShapesThatDoNotFitTheirSpan()
    {
        AssertRefused(Write("shape-too-small", "{" + Entry("a", "F32", "[2, 3]", 0, 32) + "}", 32), "is 24 bytes but its span is 32 bytes");
        AssertRefused(Write("dtype-size", "{" + Entry("a", "F16", "[4]", 0, 16) + "}", 16), "is 8 bytes but its span is 16 bytes");
        AssertRefused(Write("huge-shape", "{" + Entry("a", "F32", "[1000000000000, 1000000000000]", 0, 16) + "}", 16), "declares more data than the file holds");
        AssertRefused(Write("overflowing-shape", "{" + Entry("a", "F64", "[4611686018427387904, 4]", 0, 16) + "}", 16), "declares more data than the file holds");
        AssertRefused(Write("beyond-int64", "{" + Entry("a", "F32", "[1e30]", 0, 16) + "}", 16), "shape entry 0");
    }

    [Fact]
    public void SpansThatOverlapLeaveGapsOrRunPastTheEnd()
    {
        AssertRefused(Write("overlap", "{" + Entry("a", "F32", "[4]", 0, 16) + ", " + Entry("b", "F32", "[4]", 8, 24) + "}", 24), "overlap");
        AssertRefused(Write("same-span", "{" + Entry("a", "F32", "[4]", 0, 16) + ", " + Entry("b", "F32", "[4]", 0, 16) + "}", 16), "overlap");
        AssertRefused(Write("gap", "{" + Entry("a", "F32", "[4]", 0, 16) + ", " + Entry("b", "F32", "[4]", 24, 40) + "}", 40), "gap of 8 bytes");
        AssertRefused(Write("past-end", "{" + Entry("a", "F32", "[4]", 0, 16) + ", " + Entry("b", "F32", "[4]", 16, 32) + "}", 20), "run past the end of the file");
        AssertRefused(Write("trailing", "{" + Entry("a", "F32", "[4]", 0, 16) + "}", 24), "8 bytes after the last tensor");
        AssertRefused(Write("duplicate", "{" + Entry("a", "F32", "[4]", 0, 16) + ", " + Entry("a", "F32", "[4]", 16, 32) + "}", 32), "declared twice");
    }

    [Fact]
    public void RandomCorruptionsAreRefusedOrReadNeverAnythingElse()
    {
        var original = Path.Combine(Folder, "fuzz-source.safetensors");
        SafeTensorsWriter.Save(original, [new("w", torch.randn(3, 5)), new("b", torch.ones(7).to_type(ScalarType.BFloat16)),
            new("i", torch.arange(4, dtype: ScalarType.Int64))], new Dictionary<string, string> { ["format"] = "pt" });
        var bytes = File.ReadAllBytes(original);
        var headerEnd = 8 + (int)BitConverter.ToUInt64(bytes);
        var random = new Random(7);
        int refused = 0;
        for (int i = 0; i < 300; i++)
        {
            var corrupt = (byte[])bytes.Clone();
            if (i % 3 == 0) corrupt = corrupt[..random.Next(corrupt.Length)];
            else for (int k = 0; k < 1 + i % 4; k++) corrupt[random.Next(headerEnd)] = (byte)random.Next(256);
            var path = Path.Combine(Folder, $"fuzz-{i}.safetensors");
            File.WriteAllBytes(path, corrupt);
            try
            {
                using var file = SafeTensorsFile.Open(path);
                foreach (var name in file.Entries.Keys) file.Read(name).Dispose();
            }
            catch (SafeTensorsFormatException e)
            {
                Assert.Equal(path, e.FilePath);
                refused++;
            }
        }
        Assert.True(refused > 150, $"only {refused} of 300 corruptions were refused");
    }

    [Fact]
    public void BadIndexesNameTheIndexAndTheFault()
    {
        var folder = TestPaths.NewTempDirectory("st-bad-index");
        SafeTensorsWriter.Save(Path.Combine(folder, "model-00001-of-00002.safetensors"), [new("a", torch.ones(2))]);
        var index = Path.Combine(folder, "model.safetensors.index.json");

        void AssertIndexRefused(string json, string fault)
        {
            File.WriteAllText(index, json);
            var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Open(folder).Dispose());
            Assert.StartsWith(index + ": ", e.Message);
            Assert.Contains(fault, e.Message);
        }

        AssertIndexRefused("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"}}",
            "shard 'model-00002-of-00002.safetensors' (holding 'b') does not exist");
        AssertIndexRefused("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"c\": \"model-00001-of-00002.safetensors\"}}",
            "'c' is mapped to model-00001-of-00002.safetensors, which does not contain it");
        AssertIndexRefused("{\"weight_map\": {\"a\": \"../elsewhere.safetensors\"}}", "points outside the folder");
        AssertIndexRefused("{\"weight_map\": {\"a\": 3}}", "not a file name");
        AssertIndexRefused("{\"weight_map\": {}}", "weight_map is empty");
        AssertIndexRefused("{\"metadata\": {}}", "no weight_map");
        AssertIndexRefused("[]", "no weight_map");
        AssertIndexRefused("{\"weight_map\": {\"a\": ", "not valid JSON");
    }

    [Fact]
    public void AShardedBf16CheckpointWithAnIndexLoadsIntoAFloat32ModuleWithACleanReport()
    {
        var module = torch.nn.Sequential(
            ("embed", torch.nn.Embedding(50, 16)),
            ("proj", torch.nn.Linear(16, 32)),
            ("out", torch.nn.Linear(32, 8, hasBias: false)));
        var weights = module.state_dict().ToDictionary(kv => kv.Key, kv => torch.randn(kv.Value.shape).to_type(ScalarType.BFloat16));

        // Two shards and a transformers-style index, as `save_pretrained(max_shard_size=...)` writes them.
        var folder = TestPaths.NewTempDirectory("st-sharded");
        string[] shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
        var first = new[] { "embed.weight", "proj.weight" };
        SafeTensorsWriter.Save(Path.Combine(folder, shards[0]), first.Select(n => new KeyValuePair<string, Tensor>(n, weights[n])), new Dictionary<string, string> { ["format"] = "pt" });
        SafeTensorsWriter.Save(Path.Combine(folder, shards[1]), weights.Where(kv => !first.Contains(kv.Key)), new Dictionary<string, string> { ["format"] = "pt" });
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), JsonSerializer.Serialize(new
        {
            metadata = new { total_size = weights.Values.Sum(t => t.NumberOfElements * 2) },
            weight_map = weights.Keys.ToDictionary(n => n, n => first.Contains(n) ? shards[0] : shards[1]),
        }));

        using var checkpoint = Checkpoint.Open(folder);
        Assert.Equal(weights.Keys.Order(), checkpoint.Names.Order());
        Assert.All(checkpoint.Names, n => Assert.Equal(ScalarType.BFloat16, checkpoint.Entry(n).DType));
        var report = ModuleLoader.Load(module, checkpoint);
        Assert.True(report.IsClean, report.ToString());
        Assert.Equal(weights.Count, report.Loaded);
        foreach (var (name, parameter) in module.state_dict())
        {
            Assert.Equal(ScalarType.Float32, parameter.dtype);
            Assert.True(parameter.eq(weights[name].to_type(ScalarType.Float32)).all().item<bool>(), name);
        }
    }
}
