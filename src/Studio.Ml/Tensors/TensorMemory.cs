using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Studio.Ml.Tensors;

/// <summary>Raw access to a CPU tensor's storage, for reading and writing checkpoint bytes without extra copies.</summary>
public static class TensorMemory
{
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>Address of the first element of a contiguous CPU tensor.</summary>
    public static unsafe byte* Pointer(Tensor t)
    {
        if (t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
            throw new ArgumentException("raw access needs a contiguous CPU tensor");
        return (byte*)THSTensor_data(t.Handle);
    }
}
