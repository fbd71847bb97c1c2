using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Studio.Ml;

/// <summary>
/// The one place a device name ("cpu", "cuda", "cuda:N") is read: a run's `device`, `--device` of the CLI verbs,
/// a worker's Studio:Device and a benchmark workload's `device`. Modules and tensors are then moved with the
/// <see cref="Device"/> it returns; nothing else parses device strings.
/// </summary>
public static class ComputeDevice
{
    /// <summary>Why <paramref name="name"/> is not a device name (null when it is one); prefixed by <paramref name="what"/>.</summary>
    public static string? Problem(string? name, string what = "--device") =>
        name == "cpu" || name == "cuda" || name is not null && name.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(name[5..], out var n) && n >= 0 && name[5..] == n.ToString()
            ? null
            : $"{what}: '{name}' is not cpu, cuda or cuda:N";

    /// <summary>
    /// The device <paramref name="name"/> names, checked against this process's LibTorch (which it loads): a CUDA
    /// device must exist. Throws <see cref="ArgumentException"/> with a message that starts with <paramref name="what"/>.
    /// </summary>
    public static Device Parse(string? name, string what = "--device")
    {
        if (Problem(name, what) is { } problem) throw new ArgumentException(problem);
        if (name == "cpu") return CPU;
        TorchRuntime.Initialise();
        if (!torch.cuda.is_available())
            throw new ArgumentException($"{what}: cuda requested but this build's TorchSharp has no CUDA (torch.cuda.is_available() is false)");
        var device = torch.device(name!);
        if (device.index >= torch.cuda.device_count())
            throw new ArgumentException($"{what}: {name} requested but this machine has {torch.cuda.device_count()} CUDA device(s)");
        return device;
    }

    /// <summary>Waits for the work queued on a CUDA device (before reading a clock); nothing on the CPU.</summary>
    public static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device);
    }

    /// <summary>Where a module's parameters are (the device its inputs must be on).</summary>
    public static Device Of(nn.Module module) => module.parameters().First().device;

    /// <summary>"cpu", "cuda:0": what a result records as the device it came from.</summary>
    public static string Name(Device device) => device.type == DeviceType.CUDA ? $"cuda:{Math.Max(0, device.index)}" : "cpu";

    /// <summary>
    /// Memory of CUDA device <paramref name="index"/> (used = total - free, so it includes the caching allocator's
    /// reserve and every process's share), from the CUDA runtime's cudaMemGetInfo; null when this process has no CUDA.
    /// TorchSharp 0.107 exposes no torch.cuda memory functions, hence the runtime call; it is never made on a CPU build.
    /// </summary>
    public static (long UsedBytes, long TotalBytes)? CudaMemory(int index = 0)
    {
        if (!TorchRuntime.CudaAvailable || CudaRuntime.Value is not { } cuda) return null;
        lock (cuda)
        {
            if (cuda.SetDevice(index) != 0 || cuda.MemGetInfo(out var free, out var total) != 0) return null;
            return ((long)(total - free), (long)total);
        }
    }

    /// <summary>The memory of the device <paramref name="device"/> names, or null on the CPU.</summary>
    public static (long UsedBytes, long TotalBytes)? MemoryOf(Device device) =>
        device.type == DeviceType.CUDA ? CudaMemory(Math.Max(0, (int)device.index)) : null;

    sealed class Cudart(IntPtr library)
    {
        readonly CudaSetDevice _setDevice = Marshal.GetDelegateForFunctionPointer<CudaSetDevice>(NativeLibrary.GetExport(library, "cudaSetDevice"));
        readonly CudaMemGetInfo _memGetInfo = Marshal.GetDelegateForFunctionPointer<CudaMemGetInfo>(NativeLibrary.GetExport(library, "cudaMemGetInfo"));
        public int SetDevice(int index) => _setDevice(index);
        public int MemGetInfo(out nuint free, out nuint total) => _memGetInfo(out free, out total);
    }

    delegate int CudaSetDevice(int device);
    delegate int CudaMemGetInfo(out nuint free, out nuint total);

    /// <summary>The CUDA runtime LibTorch loaded (PyTorch wheels ship libcudart.so.N; a CUDA toolkit has libcudart.so).</summary>
    static readonly Lazy<Cudart?> CudaRuntime = new(() =>
    {
        foreach (var name in new[] { "libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "cudart64_12.dll", "cudart64_110.dll" })
            if (NativeLibrary.TryLoad(name, out var library))
            {
                try { return new Cudart(library); }
                catch (EntryPointNotFoundException) { }
            }
        return null;
    });
}
