using System.Text.Json;
using Studio.Ml.Models.T5;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

public class T5EncoderTests
{
    public T5EncoderTests() => TorchRuntime.Initialise();

    [Fact]
    public void V11GatedGeluMatchesTransformers() => FixtureAssert.Matches("t5_encoder_v11");

    [Fact]
    public void V10ReluMatchesTransformers() => FixtureAssert.Matches("t5_encoder_v10");

    [Theory]
    [InlineData("tied embedding stored as encoder.embed_tokens.weight", "", "encoder.embed_tokens.weight")]
    [InlineData("full T5ForConditionalGeneration with decoder and lm_head", "", "shared.weight")]
    [InlineData("DistillT5 wrapper (T5EncoderWithProjection)", "encoder.", "encoder.embed_tokens.weight")]
    public void LoadsCheckpointLayoutsOfRealFolders(string layout, string wrapperPrefix, string embeddingName)
    {
        // The fixture's weights renamed as in the layout; the outputs must still be transformers' outputs.
        var dir = CopyFixture("t5_encoder_v11", layout.Split(' ')[0]);
        using (var reference = Checkpoint.Open(Path.Combine(TestPaths.Fixture("t5_encoder_v11"), "model.safetensors")))
        {
            var tensors = reference.Names.ToDictionary(
                n => wrapperPrefix + (n == "shared.weight" ? embeddingName : n), n => reference.Read(n));
            if (layout.StartsWith("full"))
            {
                tensors["decoder.final_layer_norm.weight"] = torch.ones(64);
                tensors["decoder.block.0.layer.0.SelfAttention.q.weight"] = torch.zeros(64, 64);
                tensors["lm_head.weight"] = torch.zeros(512, 64);
            }
            if (wrapperPrefix != "")
            {
                tensors["final_projection.0.weight"] = torch.zeros(32, 64);
                tensors["final_projection.3.weight"] = torch.zeros(32, 32);
            }
            SafeTensorsWriter.Save(Path.Combine(dir, "model.safetensors"), tensors);
            foreach (var t in tensors.Values) t.Dispose();
        }

        using var checkpoint = Checkpoint.Open(Path.Combine(dir, "model.safetensors"));
        var (model, report) = T5Encoder.Load(T5Config.Load(Path.Combine(dir, "config.json")), checkpoint);
        model.Dispose();
        Assert.True(report.IsClean, report.ToString());
        FixtureAssert.Matches(dir);
    }

    [Fact]
    public void AMissingWeightIsNamedInTheError()
    {
        var dir = CopyFixture("t5_encoder_v11", "missing");
        using (var reference = Checkpoint.Open(Path.Combine(TestPaths.Fixture("t5_encoder_v11"), "model.safetensors")))
        {
            var tensors = reference.Names.Where(n => n != "encoder.block.1.layer.1.DenseReluDense.wi_1.weight").ToDictionary(n => n, n => reference.Read(n));
            SafeTensorsWriter.Save(Path.Combine(dir, "model.safetensors"), tensors);
            foreach (var t in tensors.Values) t.Dispose();
        }
        using var checkpoint = Checkpoint.Open(Path.Combine(dir, "model.safetensors"));
        var error = Assert.Throws<CheckpointLoadException>(() => T5Encoder.Load(T5Config.Load(Path.Combine(dir, "config.json")), checkpoint));
        Assert.Contains("encoder.block.1.layer.1.DenseReluDense.wi_1.weight", error.Message);
    }

    [Theory]
    [InlineData("d_model", "\"wide\"")]
    [InlineData("feed_forward_proj", "\"gated-mystery\"")]
    [InlineData("num_heads", "-4")]
    public void ABadConfigFieldIsNamedInTheError(string field, string value)
    {
        var dir = TestPaths.NewTempDirectory("t5-config");
        var config = File.ReadAllText(Path.Combine(TestPaths.Fixture("t5_encoder_v11"), "config.json"));
        using var doc = JsonDocument.Parse(config);
        var edited = "{" + string.Join(",", doc.RootElement.EnumerateObject()
            .Select(p => $"\"{p.Name}\": {(p.Name == field ? value : p.Value.GetRawText())}")) + "}";
        var path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, edited);
        var error = Assert.Throws<InvalidDataException>(() => T5Config.Load(path));
        Assert.Contains($"'{field}'", error.Message);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void ShardedBFloat16FolderLoadsCleanlyAndReproducesTheFloat32Model()
    {
        var config = T5Config.Load(Path.Combine(TestPaths.Fixture("t5_encoder_v11"), "config.json"));
        torch.manual_seed(7);
        using var original = T5Encoder.Create(config);
        using var ids = torch.randint(2, config.VocabSize, [3, 10], dtype: ScalarType.Int64);
        using var mask = torch.ones(3, 10, dtype: ScalarType.Int64);
        mask[1, TensorIndex.Slice(6)] = 0;

        // Save as transformers would: bf16, sharded with an index, the tied embedding under shared.weight only.
        var dir = TestPaths.NewTempDirectory("t5-sharded");
        var state = original.state_dict();
        var names = state.Keys.ToList();
        var shards = new[] { names.Take(names.Count / 3), names.Skip(names.Count / 3).Take(names.Count / 3), names.Skip(2 * (names.Count / 3)) };
        var weightMap = new Dictionary<string, string>();
        for (int s = 0; s < shards.Length; s++)
        {
            var file = $"model-{s + 1:00000}-of-{shards.Length:00000}.safetensors";
            var tensors = shards[s].ToDictionary(n => n, n => state[n].to(ScalarType.BFloat16));
            SafeTensorsWriter.Save(Path.Combine(dir, file), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var n in shards[s]) weightMap[n] = file;
            foreach (var t in tensors.Values) t.Dispose();
        }
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"),
            JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = weightMap }));
        File.Copy(Path.Combine(TestPaths.Fixture("t5_encoder_v11"), "config.json"), Path.Combine(dir, "config.json"));

        using var _ = torch.no_grad();
        // Upcast on load: exactly the float32 module with its weights rounded to bf16.
        var (asFloat32, report32) = T5Encoder.Load(dir, ScalarType.Float32);
        using (asFloat32)
        {
            Assert.True(report32.IsClean, report32.ToString());
            Assert.Equal(names.Count, report32.Loaded);
            using var rounded = T5Encoder.Create(config);
            foreach (var (name, p) in rounded.state_dict())
                using (var r = state[name].to(ScalarType.BFloat16).to(ScalarType.Float32)) p.copy_(r);
            using var expected = rounded.forward(ids, mask);
            using var actual = asFloat32.forward(ids, mask);
            Assert.True(expected.eq(actual).all().item<bool>(), "bf16 weights upcast on load differ from the rounded float32 module");
        }

        // Computing in bf16 stays within bf16 rounding of the float32 module's outputs.
        var (asBFloat16, report16) = T5Encoder.Load(dir, ScalarType.BFloat16);
        using (asBFloat16)
        {
            Assert.True(report16.IsClean, report16.ToString());
            Assert.Equal(ScalarType.BFloat16, asBFloat16.DType);
            foreach (var withMask in new[] { false, true })
            {
                using var reference = original.forward(ids, withMask ? mask : null);
                using var output = asBFloat16.forward(ids, withMask ? mask : null);
                Assert.Equal(ScalarType.BFloat16, output.dtype);
                var relative = (output.to(ScalarType.Float32) - reference).abs().max().item<float>() / reference.abs().max().item<float>();
                Assert.True(relative < 2e-2, $"bf16 max relative error {relative:E2} (mask: {withMask})");
            }
        }
    }

    [Fact]
    public void DropoutActsInTrainingModeOnly()
    {
        var config = T5Config.Load(Path.Combine(TestPaths.Fixture("t5_encoder_v11"), "config.json")) with { DropoutRate = 0.3 };
        using var model = T5Encoder.Create(config);
        using var ids = torch.randint(2, config.VocabSize, [2, 9], dtype: ScalarType.Int64);
        using var _ = torch.no_grad();
        using (var a = model.forward(ids))
        using (var b = model.forward(ids))
            Assert.True(a.eq(b).all().item<bool>(), "eval mode must be deterministic");
        model.train();
        using (var a = model.forward(ids))
        using (var b = model.forward(ids))
            Assert.False(a.eq(b).all().item<bool>(), "training mode must apply dropout");
    }

    [Fact]
    public void Float16StaysWithinHalfPrecisionRoundingOfFloat32()
    {
        var config = T5Config.Load(Path.Combine(TestPaths.Fixture("t5_encoder_v10"), "config.json"));
        torch.manual_seed(3);
        using var float32 = T5Encoder.Create(config);
        float32.InitialiseLikeTransformers();
        using var float16 = T5Encoder.Create(config, ScalarType.Float16);
        using var _ = torch.no_grad();
        var weights = float32.state_dict();
        foreach (var (name, p) in float16.state_dict()) p.copy_(weights[name]);
        using var ids = torch.randint(2, config.VocabSize, [2, 9], dtype: ScalarType.Int64);
        using var reference = float32.forward(ids);
        using var half = float16.forward(ids);
        Assert.Equal(ScalarType.Float16, half.dtype);
        var relative = (half.to(ScalarType.Float32) - reference).abs().max().item<float>() / reference.abs().max().item<float>();
        Assert.True(relative < 1e-2, $"fp16 max relative error {relative:E2}");
    }

    /// <summary>A temporary fixture folder with the config, inputs and outputs of a reference case (and no weights yet).</summary>
    static string CopyFixture(string name, string tag)
    {
        var dir = TestPaths.NewTempDirectory($"{name}-{tag}");
        foreach (var file in new[] { "config.json", "inputs.safetensors", "outputs.safetensors" })
            File.Copy(Path.Combine(TestPaths.Fixture(name), file), Path.Combine(dir, file));
        return dir;
    }
}
