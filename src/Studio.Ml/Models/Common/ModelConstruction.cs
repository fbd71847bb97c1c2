using static TorchSharp.torch;

namespace Studio.Ml.Models.Common;

/// <summary>
/// Builds a module with its parameters created directly in the wanted dtype (LibTorch's default dtype is switched for
/// the duration of the construction), so a bf16 model never exists in float32 first: FLUX's 12B parameters take 24 GB
/// in bf16 but would need 48 GB on the way. The default dtype is process-wide, so constructions are serialised.
/// </summary>
public static class ModelConstruction
{
    static readonly object Gate = new();

    public static T InDType<T>(ScalarType dtype, Func<T> construct)
    {
        lock (Gate)
        {
            var previous = get_default_dtype();
            set_default_dtype(dtype);
            try { return construct(); }
            finally { set_default_dtype(previous); }
        }
    }
}
