using static TorchSharp.torch;

namespace Studio.Ml.Models.Common;

/// <summary>
/// Gradient (activation) checkpointing, as `torch.utils.checkpoint` does it: the forward pass keeps only a block's
/// inputs, and the backward pass runs the block again with gradients enabled to get its activations back. Trades one
/// extra forward per block for not holding every block's activations while back-propagating (the distiller
/// back-propagates through the whole frozen transformer at every step). The function must be deterministic.
/// </summary>
public static class ActivationCheckpoint
{
    public static Tensor[] Run(Func<Tensor[], Tensor[]> function, params Tensor[] inputs)
    {
        if (!is_grad_enabled()) return function(inputs);
        return Recompute.apply([function, .. inputs]).ToArray();
    }

    sealed class Recompute : autograd.MultiTensorFunction<Recompute>
    {
        public override string Name => nameof(ActivationCheckpoint);

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var function = (Func<Tensor[], Tensor[]>)vars[0];
            var inputs = vars.Skip(1).Cast<Tensor>().ToArray();
            ctx.save_data("function", function);
            ctx.save_for_backward([.. inputs]);
            return [.. function(inputs)];
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
        {
            var function = (Func<Tensor[], Tensor[]>)ctx.get_data("function");
            var inputs = ctx.get_saved_variables().Select(t => t.detach().requires_grad_(t.requires_grad)).ToArray();
            using (enable_grad())
            {
                var outputs = function(inputs);
                var differentiable = outputs.Select((output, i) => (output, grad: gradOutputs[i])).Where(p => p.output.requires_grad).ToList();
                if (differentiable.Count > 0)
                    autograd.backward(differentiable.Select(p => p.output).ToList(), differentiable.Select(p => p.grad).ToList());
            }
            // One gradient per argument of apply: none for the function, then one per input tensor.
            return [null!, .. inputs.Select(t => t.requires_grad ? t.grad! : null!)];
        }
    }
}
