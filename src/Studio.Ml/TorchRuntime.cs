using System.Runtime.InteropServices;
using TorchSharp;

namespace Studio.Ml;

/// <summary>Process-wide LibTorch setup: loads the native backend once and reports what it found.</summary>
public static class TorchRuntime
{
    static readonly object Gate = new();
    static bool _initialised;

    /// <summary>Loads LibTorch (CPU or CUDA, whichever the build shipped) and sets the CPU thread count.</summary>
    public static void Initialise(int? threads = null)
    {
        lock (Gate)
        {
            if (!_initialised)
            {
                KeepFreedMemory();
                LoadBackend();
                QuietLibTorchWarnings();
                UseIeeeFloat32();
                _initialised = true;
            }
            if (threads is > 0) torch.set_num_threads(threads.Value);
        }
    }

    static void LoadBackend()
    {
        // Touching the backend forces the native library to load; failures surface here with TorchSharp's message.
        using var probe = torch.zeros(1);
    }

    /// <summary>
    /// float32 means IEEE float32 on every device. LibTorch lets cuDNN run float32 convolutions in TF32 on NVIDIA GPUs
    /// by default (10-bit mantissa: errors near 1e-3 of a value, where the fixtures hold float32 to 1e-4), so a float32
    /// VAE decode on CUDA would not be the CPU's; cuBLAS matmuls already default to IEEE. The fast path on a GPU is
    /// bfloat16, not TF32. Plain flags of LibTorch's global context: setting them needs no GPU.
    /// </summary>
    static void UseIeeeFloat32()
    {
        torch.backends.cudnn.allow_tf32 = false;
        torch.backends.cuda.matmul.allow_tf32 = false;
    }

    /// <summary>
    /// glibc returns freed blocks of 128 KB and more to the kernel at once (mmap) and trims the heap's top, so every
    /// CPU forward pass faults its activations in again page by page. Serving blocks up to 32 MB from the heap and
    /// never trimming it keeps them: T5-Base float32 (batch 8 x 77) went from 1.08-1.20 s to 0.72 s per forward
    /// (`studio bench t5`, idle 2-core machine). The cost: resident memory stays at its peak. No-op off glibc.
    /// </summary>
    static void KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            mallopt(MmapThreshold, 32 << 20);
            mallopt(TrimThreshold, int.MaxValue);
            mallopt(TopPad, 256 << 20);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    const int TrimThreshold = -1, TopPad = -2, MmapThreshold = -3;

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int parameter, int value);

    /// <summary>
    /// On CPUs NNPACK does not support, LibTorch logs "Could not initialize NNPACK! Reason: Unsupported hardware." on
    /// convolutions, over and over; TorchSharp has no switch for NNPACK. LibTorch's log level comes from
    /// TORCH_CPP_LOG_LEVEL, read only by `c10::initLogging()`, which PyTorch calls and TorchSharp does not: set the
    /// variable to ERROR unless the user set it (in the native environment: .NET's SetEnvironmentVariable does not
    /// reach getenv on Unix), then call it. Linux only (the LibTorch this studio ships).
    /// </summary>
    static unsafe void QuietLibTorchWarnings()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc10.so", out var c10)) return;
        if (!NativeLibrary.TryGetExport(c10, "_ZN3c1011initLoggingEv", out var initLogging)) return;
        if (Environment.GetEnvironmentVariable("TORCH_CPP_LOG_LEVEL") is null) setenv("TORCH_CPP_LOG_LEVEL", "ERROR", 0);
        ((delegate* unmanaged<void>)initLogging)();
    }

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    public static string Describe() =>
        torch.cuda.is_available()
            ? $"LibTorch {torch.__version__} CUDA ({torch.cuda.device_count()} device(s))"
            : $"LibTorch {torch.__version__} CPU ({torch.get_num_threads()} threads)";

    public static bool CudaAvailable => torch.cuda.is_available();
}
