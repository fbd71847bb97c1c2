using System.Numerics;
using Studio.Ml.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using AdamWOptimizer = TorchSharp.Modules.AdamW;

namespace Studio.Ml.Training;

/// <summary>
/// The step of TorchSharp's AdamW (decoupled weight decay, bias-corrected moments) computed in one fused pass per
/// parameter on the CPU, on the optimizer's own state, so saved optimizer state keeps TorchSharp's format. TorchSharp's
/// step makes about nine passes over every parameter and allocates two temporaries per parameter; for the student's
/// 8M-entry embedding that made the optimizer step the most expensive part of a toy-sized update. Other devices,
/// dtypes and AMSGrad take TorchSharp's step.
/// </summary>
public static class FusedAdamW
{
    /// <summary>Elements per work item of the parallel pass.</summary>
    const int Chunk = 1 << 16;

    public static void Step(AdamWOptimizer optimizer)
    {
        var groups = optimizer.ParamGroups.Cast<TorchSharp.Modules.ParamGroup>().ToList();
        if (!groups.All(Fusable))
        {
            optimizer.step();
            return;
        }
        // The optimizer's states, one per parameter in parameter-group order.
        var states = optimizer.state_dict().State;
        var index = 0;
        foreach (var group in groups)
        {
            var options = (AdamWOptimizer.Options)group.Options;
            foreach (var parameter in group.Parameters)
            {
                var state = (AdamWOptimizer.State)states[index++];
                using var grad = parameter.grad;
                if (grad is null) continue;
                state.step += 1;
                Step(parameter, grad, state, options.LearningRate!.Value, options.beta1!.Value, options.beta2!.Value, options.eps!.Value,
                    options.weight_decay!.Value, options.maximize!.Value);
            }
        }
    }

    /// <summary>Float32 contiguous CPU parameters and gradients, without AMSGrad.</summary>
    static bool Fusable(TorchSharp.Modules.ParamGroup group) =>
        ((AdamWOptimizer.Options)group.Options).amsgrad != true && group.Parameters.All(p =>
        {
            using var grad = p.grad;
            return p.device_type == DeviceType.CPU && p.dtype == ScalarType.Float32 && p.is_contiguous()
                && (grad is null || grad.dtype == ScalarType.Float32 && grad.is_contiguous());
        });

    /// <summary>
    /// p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),
    /// element by element, each element read and written once.
    /// </summary>
    static unsafe void Step(Tensor parameter, Tensor grad, AdamWOptimizer.State state, double lr, double beta1, double beta2, double eps,
        double weightDecay, bool maximize)
    {
        var p = (float*)TensorMemory.Pointer(parameter);
        var g = (float*)TensorMemory.Pointer(grad);
        var m = (float*)TensorMemory.Pointer(state.exp_avg);
        var v = (float*)TensorMemory.Pointer(state.exp_avg_sq);
        var decay = (float)(1 - lr * weightDecay);
        var (b1, b2) = ((float)beta1, (float)beta2);
        var (c1, c2) = ((float)(1 - beta1), (float)(1 - beta2));
        var stepSize = (float)(lr / (1 - Math.Pow(beta1, state.step)));
        var rootCorrection = (float)Math.Sqrt(1 - Math.Pow(beta2, state.step));
        var epsilon = (float)eps;
        var sign = maximize ? -1f : 1f;
        var n = parameter.NumberOfElements;

        void Range(long start, long end)
        {
            long i = start;
            var width = Vector<float>.Count;
            for (; i + width <= end; i += width)
            {
                var gi = Vector.Load(g + i) * sign;
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
                var gi = g[i] * sign;
                m[i] = m[i] * b1 + gi * c1;
                v[i] = v[i] * b2 + gi * gi * c2;
                p[i] = p[i] * decay - m[i] / (MathF.Sqrt(v[i]) / rootCorrection + epsilon) * stepSize;
            }
        }

        if (n <= Chunk) Range(0, n);
        else Parallel.For(0, (n + Chunk - 1) / Chunk, new ParallelOptions { MaxDegreeOfParallelism = torch.get_num_threads() },
            c => Range(c * Chunk, Math.Min(n, (c + 1) * Chunk)));
    }
}
