using Studio.Ml.Fixtures;
using Studio.Ml.Models.Clip;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

public class ClipTextEncoderTests
{
    public ClipTextEncoderTests() => TorchRuntime.Initialise();

    [Fact]
    public void ClipTextModelWithLegacyArgmaxPoolingMatchesTransformers()
    {
        FixtureAssert.Matches("clip_text");
        PooledRowsAreExactlyTheReferenceEosRows("clip_text");
    }

    [Fact]
    public void ClipTextModelWithProjectionAndFirstEosPoolingMatchesTransformers()
    {
        FixtureAssert.Matches("clip_text_projection");
        PooledRowsAreExactlyTheReferenceEosRows("clip_text_projection");
    }

    [Fact]
    public void PoolingRulesDifferWhenALargerIdPrecedesTheFirstEos()
    {
        // Row 0: a content id above EOS comes first; row 1: no EOS at all (transformers' argmax of all-false is 0).
        using var ids = torch.tensor(new long[,] { { 998, 5, 1000, 999, 999 }, { 998, 4, 3, 7, 8 } });
        static ClipTextConfig WithEos(long eos) => new(1001, 8, 16, 1, 2, 77, 8, "quick_gelu", 1e-5, 0.0, eos, false);
        using var legacy = new ClipTextTransformer(WithEos(2), ScalarType.Float32);
        using var current = new ClipTextTransformer(WithEos(999), ScalarType.Float32);
        Assert.Equal([2L, 0], legacy.EosPositions(ids).data<long>().ToArray());
        Assert.Equal([3L, 0], current.EosPositions(ids).data<long>().ToArray());
    }

    /// <summary>
    /// The README asks for exact pooled rows: the reference pooler_output row is one row of the reference
    /// last_hidden_state; ours must be exactly our row at that same position.
    /// </summary>
    static void PooledRowsAreExactlyTheReferenceEosRows(string name)
    {
        var dir = TestPaths.Fixture(name);
        using var reference = SafeTensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        using var refLast = reference.Read("last_hidden_state");
        using var refPooled = reference.Read("pooler_output");
        using var fixture = FixtureFolder.Open(dir);
        var computed = FixtureRunner.Compute(fixture);
        try
        {
            for (long b = 0; b < refPooled.shape[0]; b++)
            {
                using var matches = refLast[b].eq(refPooled[b].unsqueeze(0)).all(1).nonzero();
                Assert.Equal(1, matches.shape[0]);
                var position = matches[0, 0].item<long>();
                Assert.True(computed["pooler_output"][b].eq(computed["last_hidden_state"][b, position]).all().item<bool>(),
                    $"{name}: pooled row {b} is not the row at position {position}");
            }
        }
        finally
        {
            foreach (var t in computed.Values) t.Dispose();
        }
    }
}
