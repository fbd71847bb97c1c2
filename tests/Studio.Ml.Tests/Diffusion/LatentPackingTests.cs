using Studio.Ml.Diffusion;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

public class LatentPackingTests
{
    public LatentPackingTests() => TorchRuntime.Initialise();

    [Fact]
    public void PackUnpackAndImageIdsMatchFluxPipelineExactly() => FixtureAssert.Matches("flux_packing", exact: _ => true);

    [Fact]
    public void UnpackInvertsPackForOtherShapes()
    {
        using var latents = randn(3, 16, 6, 10);
        using var packed = LatentPacking.Pack(latents);
        Assert.Equal([3L, 15, 64], packed.shape);
        using var unpacked = LatentPacking.Unpack(packed, 6, 10);
        Assert.True(unpacked.eq(latents).all().item<bool>());
        Assert.Throws<ArgumentException>(() => LatentPacking.Unpack(packed, 6, 12));
        using var odd = randn(1, 16, 5, 4);
        Assert.Throws<ArgumentException>(() => LatentPacking.Pack(odd));
    }

    [Fact]
    public void GridOfRecoversTheImageIdGridAndRejectsOtherIds()
    {
        using var ids = LatentPacking.ImageIds(3, 5);
        Assert.Equal((3L, 5L), LatentPacking.GridOf(ids));
        Assert.Equal([0f, 2f, 4f], ids[14].data<float>().ToArray());
        using var text = LatentPacking.TextIds(7);
        Assert.Throws<ArgumentException>(() => LatentPacking.GridOf(text));
        using var transposed = LatentPacking.ImageIds(5, 3).index_select(1, tensor(new long[] { 0, 2, 1 }));
        Assert.Throws<ArgumentException>(() => LatentPacking.GridOf(transposed));
    }
}
