using System.Numerics;
using Studio.Ml.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using AdamWOptimizer = TorchSharp.Modules.AdamW;

namespace Studio.Ml.Training;

/// <summary>
/// A TorchSharp AdamW whose parameters, gradients and two moments each live in one flat buffer: every parameter, its
/// gradient and its moments become views into them. Zeroing the gradients, clipping their norm and the AdamW step are
/// then a handful of whole-buffer operations on any device, with no host synchronisation: on CUDA what PyTorch's fused
/// AdamW and foreach clipping give, where TorchSharp's own step launches about nine kernels per parameter and its
/// clip_grad_norm_ waits for the norm. On the CPU the step is one vectorised pass over the buffers.
/// The arithmetic is torch.optim.AdamW's (decoupled weight decay, bias-corrected moments) and clip_grad_norm_'s.
/// The moments are the wrapped optimizer's own state tensors, so its save and load keep TorchSharp's format, and the
/// learning rate is read from its parameter group. Since gradients are zeroed rather than dropped, a parameter no loss
/// reaches still decays and keeps its momentum, as in PyTorch with zeroed gradients.
/// </summary>
public sealed class FlatAdamW : IDisposable
{
    /// <summary>Elements per work item of the CPU pass.</summary>
    const int Chunk = 1 << 16;

    readonly Parameter[] _parameters;
    readonly AdamWOptimizer.State[] _states;
    readonly Tensor _values, _grads, _expAvg, _expAvgSq;
    readonly long[] _offsets;

    public AdamWOptimizer Optimizer { get; }

    /// <summary>
    /// Moves the parameters of <paramref name="optimizer"/> (one group, one device and dtype, all trainable) and their
    /// state into flat buffers. Build it after the modules have reached their device: a module moved later gets new
    /// tensors, and <see cref="Step"/> then refuses to run.
    /// </summary>
    public FlatAdamW(AdamWOptimizer optimizer)
    {
        Optimizer = optimizer;
        var groups = optimizer.ParamGroups.Cast<ParamGroup>().ToList();
        if (groups.Count != 1) throw new ArgumentException($"FlatAdamW takes an optimizer with one parameter group, not {groups.Count}");
        var options = Options;
        if (options.amsgrad == true || options.maximize == true) throw new ArgumentException("FlatAdamW does not implement AMSGrad or maximize");
        _parameters = groups[0].Parameters.Cast<Parameter>().ToArray();
        if (_parameters.Length == 0) throw new ArgumentException("the optimizer has no parameters");
        _states = optimizer.state_dict().State.Cast<AdamWOptimizer.State>().ToArray();
        var first = _parameters[0];
        if (_parameters.Any(p => p.device_type != first.device_type || p.device_index != first.device_index || p.dtype != first.dtype))
            throw new ArgumentException($"FlatAdamW needs every parameter on one device in one dtype; found {string.Join(", ", _parameters.Select(p => $"{p.dtype} on {p.device}").Distinct())}");
        if (_parameters.Any(p => !p.requires_grad)) throw new ArgumentException("FlatAdamW takes trainable parameters only (one has requires_grad false)");
        if (_parameters.Select(p => p.Handle).Distinct().Count() != _parameters.Length) throw new ArgumentException("a parameter appears twice in the optimizer");

        _offsets = new long[_parameters.Length + 1];
        for (int i = 0; i < _parameters.Length; i++) _offsets[i + 1] = _offsets[i] + _parameters[i].NumberOfElements;
        var total = _offsets[^1];
        _values = empty(total, first.dtype, first.device);
        _grads = zeros(total, first.dtype, first.device);
        _expAvg = empty(total, first.dtype, first.device);
        _expAvgSq = empty(total, first.dtype, first.device);
        using var _ = no_grad();
        for (int i = 0; i < _parameters.Length; i++)
        {
            var (p, state) = (_parameters[i], _states[i]);
            Rebind(p, _values, i);
            using (var grad = View(_grads, i)) p.grad = grad;
            Rebind(state.exp_avg, _expAvg, i);
            Rebind(state.exp_avg_sq, _expAvgSq, i);
        }
    }

    AdamWOptimizer.Options Options => (AdamWOptimizer.Options)Optimizer.ParamGroups.Cast<ParamGroup>().First().Options;

    Tensor View(Tensor buffer, int i) => buffer.narrow(0, _offsets[i], _offsets[i + 1] - _offsets[i]).view(_parameters[i].shape);

    /// <summary>Copies <paramref name="tensor"/> into its place in <paramref name="buffer"/>, then makes it a view of that place.</summary>
    void Rebind(Tensor tensor, Tensor buffer, int i)
    {
        using var view = View(buffer, i);
        view.copy_(tensor);
        tensor.set_(view);   // returns the tensor itself
    }

    /// <summary>Zeroes every gradient (one fill of the gradient buffer); backward then adds into the views.</summary>
    public void ZeroGrad() => _grads.zero_();

    /// <summary>
    /// Scales the gradients to a total norm of at most <paramref name="maxNorm"/> (torch.nn.utils.clip_grad_norm_) and
    /// returns the norm before clipping as a 0-d tensor on the parameters' device, so nothing waits for it.
    /// </summary>
    public Tensor ClipGradNorm(double maxNorm)
    {
        using var scope = NewDisposeScope();
        var norm = _grads.norm();
        _grads.mul_((maxNorm / (norm + 1e-6)).clamp_max(1.0));
        return norm.MoveToOuterDisposeScope();
    }

    /// <summary>The pieces of the gradient buffer of each group (<see cref="GroupGradientsBy"/>) and, on the device, their groups.</summary>
    (long From, long To)[] _groupPieces = [];
    Tensor? _pieceGroups;
    int _groupCount;

    /// <summary>
    /// Sets the groups <see cref="GroupGradNorms"/> reports: <paramref name="groupOf"/> gives a parameter's group (0 to
    /// <paramref name="groups"/> - 1; -1: in none). Consecutive parameters of one group become one piece of the gradient
    /// buffer. Done once: the pieces' group indices go to the device here, not at each update (a copy from the host
    /// waits for the device).
    /// </summary>
    public void GroupGradientsBy(Func<Parameter, int> groupOf, int groups)
    {
        var pieces = new List<(int Group, long From, long To)>();
        for (int i = 0; i < _parameters.Length; i++)
        {
            var group = groupOf(_parameters[i]);
            if (group < -1 || group >= groups) throw new ArgumentOutOfRangeException(nameof(groupOf), group, $"a group is -1 or in [0, {groups})");
            if (group < 0) continue;
            if (pieces.Count > 0 && pieces[^1].Group == group && pieces[^1].To == _offsets[i]) pieces[^1] = pieces[^1] with { To = _offsets[i + 1] };
            else pieces.Add((group, _offsets[i], _offsets[i + 1]));
        }
        _pieceGroups?.Dispose();
        _groupPieces = pieces.Select(p => (p.From, p.To)).ToArray();
        _pieceGroups = tensor(pieces.Select(p => (long)p.Group).ToArray(), device: _grads.device);
        _groupCount = groups;
    }

    /// <summary>
    /// The norm of the gradients of each group set by <see cref="GroupGradientsBy"/>, as a 1-d float32 tensor on the
    /// parameters' device, so nothing waits for it (called before <see cref="ClipGradNorm"/>: the norms before
    /// clipping). Each piece is reduced in place, without a squared copy of the gradients.
    /// </summary>
    public Tensor GroupGradNorms()
    {
        using var scope = NewDisposeScope();
        var squares = zeros(_groupCount, ScalarType.Float32, _grads.device);
        if (_groupPieces.Length > 0)
        {
            var norms = stack(_groupPieces.Select(piece => _grads.narrow(0, piece.From, piece.To - piece.From).norm()).ToArray()).to_type(ScalarType.Float32);
            squares.scatter_add_(0, _pieceGroups!, norms.square());
        }
        return squares.sqrt().MoveToOuterDisposeScope();
    }

    /// <summary>One AdamW step at the group's current learning rate over every parameter.</summary>
    public void Step()
    {
        CheckViews();
        var o = Options;
        var step = _states[0].step + 1;
        foreach (var state in _states) state.step = step;
        var (lr, beta1, beta2) = (o.LearningRate!.Value, o.beta1!.Value, o.beta2!.Value);
        var stepSize = lr / (1 - Math.Pow(beta1, step));
        var rootCorrection = Math.Sqrt(1 - Math.Pow(beta2, step));
        var decay = 1 - lr * o.weight_decay!.Value;
        if (_values.device_type == DeviceType.CPU && _values.dtype == ScalarType.Float32)
        {
            CpuStep((float)decay, (float)beta1, (float)beta2, (float)o.eps!.Value, (float)stepSize, (float)rootCorrection);
            return;
        }
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        _values.mul_(decay);
        _expAvg.mul_(beta1).add_(_grads, alpha: 1 - beta1);
        _expAvgSq.mul_(beta2).addcmul_(_grads, _grads, value: 1 - beta2);
        var denominator = _expAvgSq.sqrt().div_(rootCorrection).add_(o.eps!.Value);
        _values.addcdiv_(_expAvg, denominator, value: -stepSize);
    }

    /// <summary>
    /// p = p (1 - lr wd); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),
    /// element by element, each element read and written once.
    /// </summary>
    unsafe void CpuStep(float decay, float b1, float b2, float epsilon, float stepSize, float rootCorrection)
    {
        var p = (float*)TensorMemory.Pointer(_values);
        var g = (float*)TensorMemory.Pointer(_grads);
        var m = (float*)TensorMemory.Pointer(_expAvg);
        var v = (float*)TensorMemory.Pointer(_expAvgSq);
        var (c1, c2) = (1 - b1, 1 - b2);
        var n = _values.NumberOfElements;

        void Range(long start, long end)
        {
            long i = start;
            var width = Vector<float>.Count;
            for (; i + width <= end; i += width)
            {
                var gi = Vector.Load(g + i);
                var mi = Vector.Load(m + i) * b1 + gi * c1;
                var vi = Vector.Load(v + i) * b2 + gi * gi * c2;
                var denominator = Vector.SquareRoot(vi) / rootCorrection + new Vector<float>(epsilon);
                var pi = Vector.Load(p + i) * decay - mi / denominator * stepSize;
                mi.Store(m + i);
                vi.Store(v + i);
                pi.Store(p + i);
            }
            for (; i < end; i++)
            {
                var gi = g[i];
                m[i] = m[i] * b1 + gi * c1;
                v[i] = v[i] * b2 + gi * gi * c2;
                p[i] = p[i] * decay - m[i] / (MathF.Sqrt(v[i]) / rootCorrection + epsilon) * stepSize;
            }
        }

        if (n <= Chunk) Range(0, n);
        else Parallel.For(0, (n + Chunk - 1) / Chunk, new ParallelOptions { MaxDegreeOfParallelism = torch.get_num_threads() },
            c => Range(c * Chunk, Math.Min(n, (c + 1) * Chunk)));
    }

    /// <summary>
    /// Refuses the step once a parameter or gradient is no longer a view of the buffers (a module moved to another
    /// device, a zero_grad(set_to_none) or a gradient assigned elsewhere): it would silently train nothing. Checked once
    /// per update, in <see cref="Step"/> (it reads every parameter's gradient handle).
    /// </summary>
    void CheckViews()
    {
        var values = TensorMemory.Address(_values);
        var grads = TensorMemory.Address(_grads);
        var size = _values.ElementSize;
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            using var grad = p.grad;
            if (TensorMemory.Address(p) != values + _offsets[i] * size || grad is null || TensorMemory.Address(grad) != grads + _offsets[i] * size)
                throw new InvalidOperationException(
                    $"parameter {i} ({string.Join("x", p.shape)}) or its gradient no longer lies in FlatAdamW's buffers (a module moved, or its gradients set to none); build the optimizer again");
        }
    }

    public void Dispose()
    {
        _values.Dispose();
        _grads.Dispose();
        _expAvg.Dispose();
        _expAvgSq.Dispose();
        _pieceGroups?.Dispose();
    }
}
