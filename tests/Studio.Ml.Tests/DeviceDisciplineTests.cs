using System.Text.RegularExpressions;

namespace Studio.Ml.Tests;

/// <summary>
/// A device mistake (a tensor made on the CPU and then met by a CUDA one) only shows on a GPU. This scan catches its
/// usual cause on the CPU: a tensor factory call in Studio.Ml that names no device. Every such call must pass a device
/// (`device: x`, a tensor's `.device`, or `CPU` when the CPU is meant), or be counted in the allow-list below.
/// </summary>
public class DeviceDisciplineTests
{
    /// <summary>
    /// Device-less factory calls that are on the CPU by design, per file (path under src/Studio.Ml) and how many.
    /// A count that grows or shrinks fails the test: add a device instead, or lower the count.
    /// </summary>
    static readonly Dictionary<string, (int Count, string Why)> CpuByDesign = new()
    {
        // Parameters and buffers made while a module is built: the module is moved with .to(device) afterwards.
        ["Models/T5/T5LayerNorm.cs"] = (1, "layer-norm weight at construction"),
        ["Models/Common/Normalization.cs"] = (1, "layer-norm weight at construction"),
        ["Models/Sd3/PatchEmbed.cs"] = (2, "the sin-cos position table buffer at construction"),
        ["Models/Clip/ClipVisionEmbeddings.cs"] = (1, "the class-token parameter at construction"),
        ["Models/Clip/ClipModel.cs"] = (1, "the logit_scale parameter at construction"),
        // Checkpoints are read into CPU memory; modules are moved after loading.
        ["Tensors/SafeTensorsFile.cs"] = (1, "the tensor a checkpoint entry is read into"),
        ["Benchmarks/LoadBenchmark.cs"] = (1, "times loading a checkpoint into CPU memory"),
        // Token ids are made on the CPU; every encoder call moves them to its module's device.
        ["Text/TextTokenizer.cs"] = (2, "token ids and mask of a batch"),
        // Toy-world images and their statistics live on the CPU (renderer, PNG, Fréchet distance in float64).
        ["Toy/ToyImage.cs"] = (2, "rendered pixels"),
        ["Toy/ToyImageFeatures.cs"] = (1, "feature statistics in float64"),
        // Fixture outputs are compared on the CPU.
        ["Fixtures/FlowMatchSchedulerKind.cs"] = (2, "scheduler outputs for a fixture"),
        ["TorchRuntime.cs"] = (1, "the probe that loads LibTorch"),
    };

    static string MlSources => Path.Combine(TestPaths.RepoRoot, "src", "Studio.Ml");

    [Fact]
    public void EveryTensorFactoryCallInStudioMlNamesItsDeviceOrIsAllowListed()
    {
        var found = Directory.EnumerateFiles(MlSources, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(f => (File: Path.GetRelativePath(MlSources, f).Replace('\\', '/'), Calls: DevicelessCalls(File.ReadAllText(f))))
            .Where(x => x.Calls.Count > 0)
            .ToDictionary(x => x.File, x => x.Calls);

        var problems = new List<string>();
        foreach (var (file, calls) in found)
            if (!CpuByDesign.TryGetValue(file, out var allowed) || allowed.Count != calls.Count)
                problems.Add($"{file}: {calls.Count} device-less call(s) (allowed {(CpuByDesign.TryGetValue(file, out var a) ? a.Count : 0)}): " +
                             string.Join("; ", calls.Select(c => $"line {c.Line}: {c.Text}")));
        foreach (var (file, allowed) in CpuByDesign.Where(p => !found.ContainsKey(p.Key)))
            problems.Add($"{file}: allow-listed for {allowed.Count} call(s) but has none (remove the entry)");
        Assert.True(problems.Count == 0, "tensor factory calls without a device:\n" + string.Join("\n", problems));
    }

    [Theory]
    [InlineData("var x = torch.zeros(3, 4);", 1)]
    [InlineData("var x = zeros(3, 4, dtype: ScalarType.Float32);", 1)]
    [InlineData("using var n = randn([b, c, h, w], generator: g);", 1)]
    [InlineData("var t = full(batch, 0.5,\n    dtype: ScalarType.Float32);", 1)]
    [InlineData("var ids = arange(n, dtype: d).view(-1, 1); var z = torch.tensor(new[] { 1f });", 2)]
    [InlineData("var x = zeros(3, device: device);", 0)]
    [InlineData("var f = tensor(theta, ScalarType.Float64, ids.device);", 0)]
    [InlineData("var n = randn([b, c], device: CPU, generator: g);", 0)]
    [InlineData("var y = x.zeros_like(); var o = ones_like(x); var m = mask.full(3);", 0)]
    [InlineData("// zeros(3) in a comment\n/// <summary>randn(3)</summary>", 0)]
    public void TheScanFindsDevicelessCalls(string code, int expected) =>
        Assert.Equal(expected, DevicelessCalls(code).Count);

    static readonly Regex Factory = new(@"(?<![\w.])(?:torch\.)?(zeros|ones|arange|tensor|randn|rand|randint|full|empty|linspace|eye)\s*\(", RegexOptions.Compiled);
    static readonly Regex NamesDevice = new(@"\b(device|Device|CPU)\b|\.device\b|\.Device\b", RegexOptions.Compiled);

    /// <summary>Factory calls (with their whole argument list, across lines) whose arguments name no device.</summary>
    static List<(int Line, string Text)> DevicelessCalls(string source)
    {
        var code = Regex.Replace(source, @"//[^\n]*", "");
        var calls = new List<(int, string)>();
        foreach (Match m in Factory.Matches(code))
        {
            var open = m.Index + m.Length - 1;
            var depth = 0;
            var end = open;
            for (; end < code.Length; end++)
            {
                if (code[end] == '(') depth++;
                else if (code[end] == ')' && --depth == 0) break;
            }
            var arguments = code[(open + 1)..Math.Min(end, code.Length)];
            if (!NamesDevice.IsMatch(arguments))
                calls.Add((code[..m.Index].Count(c => c == '\n') + 1, Regex.Replace(code[m.Index..Math.Min(end + 1, code.Length)], @"\s+", " ")));
        }
        return calls;
    }
}
