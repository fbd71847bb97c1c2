using static TorchSharp.torch;

namespace Studio.Ml.Diffusion;

/// <summary>Classifier-free guidance as the SD3 pipeline applies it to the transformer's two predictions.</summary>
public static class ClassifierFreeGuidance
{
    /// <summary>Guidance is applied when the scale exceeds 1 (diffusers' `do_classifier_free_guidance`).</summary>
    public static bool IsActive(double scale) => scale > 1.0;

    /// <summary>unconditional + scale * (conditional - unconditional).</summary>
    public static Tensor Combine(Tensor unconditional, Tensor conditional, double scale)
    {
        using var difference = conditional - unconditional;
        return unconditional + difference.mul(scale);
    }
}
