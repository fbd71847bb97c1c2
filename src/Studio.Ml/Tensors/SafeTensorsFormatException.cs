namespace Studio.Ml.Tensors;

/// <summary>A checkpoint file that cannot be trusted; the message names the file and the fault.</summary>
public sealed class SafeTensorsFormatException(string path, string fault)
    : Exception($"{path}: {fault}")
{
    public string FilePath { get; } = path;
    public string Fault { get; } = fault;
}
