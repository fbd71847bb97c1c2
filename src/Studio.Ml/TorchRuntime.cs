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
                LoadBackend();
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

    public static string Describe() =>
        torch.cuda.is_available()
            ? $"LibTorch {torch.__version__} CUDA ({torch.cuda.device_count()} device(s))"
            : $"LibTorch {torch.__version__} CPU ({torch.get_num_threads()} threads)";

    public static bool CudaAvailable => torch.cuda.is_available();
}
