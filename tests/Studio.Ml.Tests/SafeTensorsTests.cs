using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests;

public class SafeTensorsTests
{
    public SafeTensorsTests() => TorchRuntime.Initialise();

    [Fact]
    public void ReadsAReferenceFileWrittenByTheHuggingFaceWriter()
    {
        using var file = SafeTensorsFile.Open(Path.Combine(TestPaths.Fixture("flux_transformer"), "inputs.safetensors"));
        var entry = file.Entry("hidden_states");
        Assert.Equal(ScalarType.Float32, entry.DType);
        Assert.Equal([2L, 16, 16], entry.Shape);
        using var t = file.Read("hidden_states");
        Assert.True(t.isfinite().all().item<bool>());
        Assert.True(t.std().item<float>() > 0.1f, "random normal inputs should not be all zeros");
    }

    [Fact]
    public void WriterRoundTripsEveryDTypeExactly()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("st-roundtrip"), "x.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = torch.randn(3, 5),
            ["bf16"] = torch.randn(7).to_type(ScalarType.BFloat16),
            ["f16"] = torch.randn(2, 2, 2).to_type(ScalarType.Float16),
            ["i64"] = torch.arange(10, dtype: ScalarType.Int64),
            ["u8"] = torch.arange(4, dtype: ScalarType.Byte),
            ["bool"] = torch.tensor(new[] { true, false, true }),
            ["empty"] = torch.zeros(0, 4),
        };
        SafeTensorsWriter.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "roundtrip" });

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("roundtrip", file.Metadata["note"]);
        Assert.Equal(tensors.Keys.OrderBy(k => k), file.Entries.Keys.OrderBy(k => k));
        foreach (var (name, original) in tensors)
        {
            using var read = file.Read(name);
            Assert.Equal(original.dtype, read.dtype);
            Assert.Equal(original.shape, read.shape);
            Assert.True(original.eq(read).all().item<bool>(), name);
        }
        Assert.Equal(0, (file.DataStart) % 8);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public void ReadTensorsViewTheFileCopyOnWriteAndOutliveIt()
    {
        // A 1 MB tensor (populated in one call) after a 3-byte one: the U8 start is not float-aligned for the next one.
        var path = Path.Combine(TestPaths.NewTempDirectory("st-map"), "m.safetensors");
        using var big = torch.arange(0, 1 << 18, dtype: ScalarType.Float32).reshape(512, 512);
        using var odd = torch.tensor(new byte[] { 7, 8, 9 });
        using var after = torch.tensor(new[] { 1.5f, -2.5f });
        SafeTensorsWriter.Save(path, [new("big", big), new("odd", odd), new("after", after)]);

        Tensor readBig, readOdd, readAfter;
        using (var file = SafeTensorsFile.Open(path))
            (readBig, readOdd, readAfter) = (file.Read("big"), file.Read("odd"), file.Read("after"));
        // The views stay valid after the file is closed, and writing to them never reaches the file.
        Assert.True(readBig.eq(big).all().item<bool>());
        Assert.True(readOdd.eq(odd).all().item<bool>());
        Assert.True(readAfter.eq(after).all().item<bool>());
        readBig.add_(1);
        readAfter.mul_(2);
        using (var again = SafeTensorsFile.Open(path))
        using (var reread = again.Read("big"))
        using (var rereadAfter = again.Read("after"))
        {
            Assert.True(reread.eq(big).all().item<bool>());
            Assert.True(rereadAfter.eq(after).all().item<bool>());
        }
        Assert.True(readBig.eq(big + 1).all().item<bool>());
        foreach (var t in new[] { readBig, readOdd, readAfter }) t.Dispose();
    }

    [Fact]
    public void ReadConvertsDTypeOnTheWay()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("st-convert"), "x.safetensors");
        using var bf16 = torch.randn(4, 4).to_type(ScalarType.BFloat16);
        SafeTensorsWriter.Save(path, [new("w", bf16)]);
        using var file = SafeTensorsFile.Open(path);
        using var f32 = file.Read("w", ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, f32.dtype);
        Assert.True(f32.eq(bf16.to_type(ScalarType.Float32)).all().item<bool>());
    }

    [Fact]
    public void ModuleLoaderReportsMissingUnexpectedAndShapeMismatchesByName()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("st-load"), "m.safetensors");
        var module = torch.nn.Sequential(("fc", torch.nn.Linear(3, 2)));
        SafeTensorsWriter.Save(path, [new("fc.weight", torch.ones(2, 4)), new("extra", torch.zeros(1))]);
        using var checkpoint = Checkpoint.Open(path);
        var e = Assert.Throws<CheckpointLoadException>(() => ModuleLoader.Load(module, checkpoint));
        Assert.Equal(["fc.bias"], e.Report.Missing);
        Assert.Equal(["extra"], e.Report.Unexpected);
        Assert.Single(e.Report.ShapeMismatches);
        Assert.Contains("fc.weight", e.Report.ShapeMismatches[0]);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void ModuleLoaderFillsParametersThroughAliases()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory("st-alias"), "m.safetensors");
        var module = torch.nn.Sequential(("fc", torch.nn.Linear(3, 2)));
        using var w = torch.randn(2, 3).to_type(ScalarType.BFloat16);
        using var b = torch.randn(2);
        SafeTensorsWriter.Save(path, [new("wrapper.fc.weight", w), new("wrapper.fc.bias", b)]);
        using var checkpoint = Checkpoint.Open(path);
        var report = ModuleLoader.Load(module, checkpoint, candidates: n => ["wrapper." + n]);
        Assert.True(report.IsClean, report.ToString());
        var loaded = module.state_dict();
        Assert.True(loaded["fc.weight"].eq(w.to_type(ScalarType.Float32)).all().item<bool>());
        Assert.True(loaded["fc.bias"].eq(b).all().item<bool>());
    }
}
