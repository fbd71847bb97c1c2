using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Training;

/// <summary>
/// Mixed-precision training with float32 master weights (Micikevicius et al., 2018): the modules are converted to a
/// 16-bit compute dtype (bfloat16) and run forward and backward in it, while the optimizer updates float32 copies of
/// their parameters, the masters, which are copied back into the modules after each step. So updates smaller than a
/// bf16 weight's precision still accumulate, and a checkpoint (written from the masters) is the float32 one a float32
/// run writes. PyTorch gets the same speed with torch.autocast and a float32 optimizer; TorchSharp 0.107 has no autocast.
/// On CPUs with AVX-512 BF16 (or AMX) and on GPUs, bf16 matrix products run 2-4x faster than float32 ones.
/// Per update: backward, <see cref="GradientsToMasters"/>, the optimizer's step on <see cref="Masters"/>,
/// <see cref="MastersToModules"/>. <see cref="Dispose"/> leaves the modules in float32 holding the masters' values.
/// </summary>
public sealed class MixedPrecision : IDisposable
{
    readonly nn.Module[] _modules;
    readonly List<(Parameter Model, Parameter Master)> _pairs = [];
    bool _disposed;

    /// <summary>The float32 parameters the optimizer updates, in the modules' order (so its state is a float32 run's).</summary>
    public IReadOnlyList<Parameter> Masters { get; }

    /// <summary>
    /// The mixed precision a training computing in <paramref name="dtype"/> needs for <paramref name="modules"/>: none
    /// for float32 (the modules train as they are), else a <see cref="MixedPrecision"/> over them.
    /// </summary>
    public static MixedPrecision? For(ScalarType dtype, params nn.Module[] modules) =>
        dtype == ScalarType.Float32 ? null : new MixedPrecision(modules, dtype);

    /// <summary>
    /// Takes float32 copies of the trainable parameters of <paramref name="modules"/> (float32, on their device, weights
    /// already loaded), then converts the modules to <paramref name="computeDType"/>.
    /// </summary>
    public MixedPrecision(IEnumerable<nn.Module> modules, ScalarType computeDType)
    {
        if (computeDType is not (ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"mixed precision computes in bfloat16 or float16, not {computeDType}");
        _modules = modules.ToArray();
        var masters = new List<Parameter>();
        foreach (var module in _modules)
        {
            var named = module.named_parameters().Where(p => p.parameter.requires_grad).ToList();
            if (named.FirstOrDefault(p => p.parameter.dtype != ScalarType.Float32) is { parameter: not null } other)
                throw new ArgumentException($"{module.GetName()}: parameter {other.name} is {other.parameter.dtype}; mixed precision starts from float32 modules");
            using (no_grad())
                foreach (var (_, p) in named) masters.Add(new Parameter(p.clone(), requires_grad: true));
            module.to(computeDType);
            // The conversion gives the module new parameter tensors, in the same order.
            var converted = module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.parameter).ToList();
            for (int i = 0; i < converted.Count; i++) _pairs.Add((converted[i], masters[masters.Count - named.Count + i]));
        }
        Masters = masters;
    }

    /// <summary>
    /// Copies each module parameter's gradient (in the compute dtype) into its master's gradient, then zeroes it for
    /// the next backward. A parameter no loss reached gets a zero gradient.
    /// </summary>
    public void GradientsToMasters()
    {
        using var _ = no_grad();
        foreach (var (model, master) in _pairs)
        {
            using var masterGrad = master.grad ?? throw new InvalidOperationException("a master parameter has no gradient buffer: build the optimizer's FlatAdamW over Masters");
            using var grad = model.grad;
            if (grad is null) masterGrad.zero_();
            else
            {
                masterGrad.copy_(grad);
                grad.zero_();
            }
        }
    }

    /// <summary>Rounds the masters into the modules' parameters (after the optimizer's step).</summary>
    public void MastersToModules()
    {
        using var _ = no_grad();
        foreach (var (model, master) in _pairs) model.copy_(master);
    }

    /// <summary>
    /// <paramref name="module"/>'s state dict (one of the modules given) with each trainable parameter's float32 master
    /// in place of its 16-bit copy: what a checkpoint saves.
    /// </summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateDict(nn.Module module)
    {
        var masterOf = _pairs.ToDictionary(p => p.Model.Handle, p => p.Master);
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, value) in module.state_dict())
            yield return new(name, parameters.TryGetValue(name, out var p) && masterOf.TryGetValue(p.Handle, out var master) ? master : value);
    }

    /// <summary>
    /// Converts the modules back to float32 and gives their parameters the masters' values. The masters stay with the
    /// optimizer that updates them (with <see cref="FlatAdamW"/>, views into its buffers).
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        int i = 0;
        foreach (var module in _modules)
        {
            module.to(ScalarType.Float32);
            using var _ = no_grad();
            foreach (var (_, p) in module.named_parameters().Where(p => p.parameter.requires_grad))
                p.copy_(Masters[i++]);
        }
    }
}
