using Studio.Ml.Diffusion;
using Studio.Ml.Models.T5;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// What the trainer needs from a frozen text-to-image model family, and all it sees of one: the latent layout of a
/// resolution, the sigma schedule, the velocity on a text conditioning, the velocity a sampler follows (guided), and
/// the sample renderer. One implementation per family: <see cref="FrozenFlux"/>, <see cref="FrozenSd3"/>
/// (<see cref="TeacherFamily"/> picks one from a teacher folder). The trainer's latents are square and float32, in the
/// family's own layout (FLUX: 2x2 patches packed into tokens; SD3: the VAE's latent grid).
/// </summary>
public interface IFrozenDenoiser : IDisposable
{
    /// <summary>"FLUX" or "SD3", for logs.</summary>
    string Family { get; }

    /// <summary>The frozen transformer (its parameters, dtype and device).</summary>
    nn.Module Module { get; }

    /// <summary>Width of the T5 slot's states, the transformer's joint_attention_dim: the student projects to it.</summary>
    int SlotWidth { get; }

    /// <summary>Width of the pooled vector (pooled_projection_dim).</summary>
    int PooledWidth { get; }

    /// <summary>The guidance validation scores at: the family pipeline's default (FLUX.1-dev's embedded 3.5; SD3's CFG 7).</summary>
    double ValidationGuidance { get; }

    /// <summary>N(0, 1) float32 latents of <paramref name="batch"/> square images of <paramref name="resolution"/> pixels, in the family's layout, drawn on the generator's device.</summary>
    Tensor Noise(int batch, int resolution, Generator generator);

    /// <summary>The step-following training schedule of <paramref name="steps"/> steps at <paramref name="resolution"/> (the teacher's scheduler config).</summary>
    FlowMatchSchedule TrainingSchedule(int steps, int resolution);

    /// <summary>
    /// One conditional pass of the transformer at noise level <paramref name="sigma"/> (B,): latents in its dtype,
    /// the conditioning's slot states joined with the states it keeps as the family joins them, its pooled vector, and
    /// <paramref name="guidance"/> (B,) where the family embeds it (FLUX.1-dev). This is the velocity the student's is matched to.
    /// </summary>
    Tensor Velocity(Tensor latents, Tensor sigma, TextConditioning conditioning, Tensor guidance);

    /// <summary>
    /// The velocity a sampler follows given the conditional one: itself where guidance is embedded (FLUX); SD3's
    /// classifier-free guidance against the empty prompt when <paramref name="guidance"/> exceeds 1.
    /// </summary>
    Tensor Guided(Tensor conditional, Tensor latents, Tensor sigma, Tensor guidance);

    /// <summary>Renders periodic samples through the family's pipeline around this transformer, the teacher folder's other parts, and <paramref name="student"/> in the T5 slot.</summary>
    ISampleRenderer SampleRenderer(string teacherFolder, StudentEncoder student);
}

/// <summary>
/// A batch's text conditioning: the T5 slot's states (B, T, SlotWidth), what the student replaces; the states the
/// family keeps beside them (SD3's CLIP-L and CLIP-G states joined along the width, (B, 77, 2048); null for FLUX); the
/// pooled vector (B, PooledWidth).
/// </summary>
public sealed record TextConditioning(Tensor Slot, Tensor? Kept, Tensor Pooled) : IDisposable
{
    /// <summary>Rows start..start+n (views).</summary>
    public TextConditioning Narrow(long start, long n) => new(Slot.narrow(0, start, n), Kept?.narrow(0, start, n), Pooled.narrow(0, start, n));

    /// <summary>Copies in <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    public TextConditioning To(ScalarType dtype, Device device) => new(Slot.to(dtype, device), Kept?.to(dtype, device), Pooled.to(dtype, device));

    public void Dispose()
    {
        Slot.Dispose();
        Kept?.Dispose();
        Pooled.Dispose();
    }
}
