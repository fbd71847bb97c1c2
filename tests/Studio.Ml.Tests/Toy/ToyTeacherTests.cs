using Studio.Ml.Models.Vae;
using Studio.Ml.Tensors;
using Studio.Ml.Toy;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Toy;

/// <summary>The teacher shipped in src/Studio.Ml/Assets/toy-teacher (copied next to the test program).</summary>
public class ToyTeacherTests
{
    public ToyTeacherTests() => TorchRuntime.Initialise();

    [Fact]
    public void ShippedTeacherLoadsCleanlyInBf16AndIsSmall()
    {
        Assert.True(Directory.Exists(ToyTeacher.Folder), $"{ToyTeacher.Folder} is missing");
        ToyPretrainingTests.AssertLoadsCleanly(ToyTeacher.Folder);
        var bytes = Directory.GetFiles(ToyTeacher.Folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(bytes < 40L << 20, $"the toy teacher is {bytes >> 20} MB, over 40 MB");
    }

    [Fact]
    public void ShippedVaeReconstructsHeldOutRenders()
    {
        var vae = AutoencoderKL.FromPretrained(Path.Combine(ToyTeacher.Folder, "vae"));
        using var _ = no_grad();
        using var images = ToyImage.Stack(ToyPrompts.HeldOut(ToyCriteria.All, 64).Select(p => ToyRenderer.Render(p.Scene)).ToList());
        using var posterior = vae.Encode(images);
        using var reconstruction = vae.Decode(posterior.Mean);
        var error = (reconstruction - images).abs().mean().item<float>();
        // Measured by `studio toy pretrain` on these 64 held-out renders: L1 0.0379 (float32 weights; 0.6634 at
        // initialisation). The bound leaves 5% for the bf16 rounding of the shipped weights (see its README).
        Assert.True(error < 0.0379 * 1.05, $"held-out reconstruction L1 {error}");
    }
}
