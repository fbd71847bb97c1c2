using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Studio.Ml.Tensors;

/// <summary>Raw access to a CPU tensor's storage, for reading and writing checkpoint bytes without extra copies.</summary>
public static class TensorMemory
{
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    [DllImport("libc", EntryPoint = "madvise")]
    static extern int Madvise(IntPtr address, nuint length, int advice);

    const int MadvPopulateWrite = 23;

    /// <summary>
    /// Asks Linux (5.14+, MADV_POPULATE_WRITE) to back the pages of a freshly allocated CPU tensor in one call, instead
    /// of one page fault per 4 KB page while it is first written. Reading a 1 GB checkpoint into new tensors took 7.6 s
    /// with it and 19 s without on the development VM, whose first touch of fresh memory is slow; elsewhere it saves
    /// the faults. Best effort: a no-op for small tensors, other systems and kernels that refuse the advice.
    /// </summary>
    public static void Prefault(Tensor t) => Advise(t, MadvPopulateWrite);

    const int MadvPopulateRead = 22;

    /// <summary>
    /// Maps the pages of a tensor that views a file mapping from the page cache in one call (Linux 5.14+,
    /// MADV_POPULATE_READ) instead of one fault per 4 KB page on first use. Best effort, like <see cref="Prefault"/>.
    /// </summary>
    public static void Populate(Tensor t) => Advise(t, MadvPopulateRead);

    static unsafe void Advise(Tensor t, int advice)
    {
        var bytes = t.NumberOfElements * t.ElementSize;
        if (!OperatingSystem.IsLinux() || bytes < (1 << 20)) return;
        long page = Environment.SystemPageSize;
        var address = (long)Pointer(t);
        var start = (address + page - 1) & ~(page - 1);   // whole pages inside the tensor only
        var end = (address + bytes) & ~(page - 1);
        if (end > start) Madvise((IntPtr)start, (nuint)(end - start), advice);
    }

    /// <summary>Address of a tensor's first element on its device (a CUDA address for a CUDA tensor): for telling whether two tensors share memory, never for reading it.</summary>
    public static long Address(Tensor t) => (long)THSTensor_data(t.Handle);

    /// <summary>Address of the first element of a contiguous CPU tensor.</summary>
    public static unsafe byte* Pointer(Tensor t)
    {
        if (t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
            throw new ArgumentException("raw access needs a contiguous CPU tensor");
        return (byte*)THSTensor_data(t.Handle);
    }
}
