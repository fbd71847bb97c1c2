using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Studio.Ml.Models.Common;

/// <summary>diffusers `GELU` activation module: a projection (`proj`) followed by GELU (tanh approximation or exact).</summary>
public sealed class GeluProjection : Module<Tensor, Tensor>
{
    readonly Linear proj;
    readonly TorchSharp.Modules.GELU.Approximate _approximate;

    public GeluProjection(long dimIn, long dimOut, bool tanhApproximation) : base("GELU")
    {
        proj = Linear(dimIn, dimOut);
        _approximate = tanhApproximation ? TorchSharp.Modules.GELU.Approximate.tanh : TorchSharp.Modules.GELU.Approximate.none;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var projected = proj.forward(x);
        return functional.gelu(projected, _approximate);
    }
}

/// <summary>
/// diffusers `FeedForward` with activation "gelu-approximate" (FLUX, SD3) or "gelu": `net.0` = projection + GELU to
/// mult*dim, `net.1` = dropout (inference: identity), `net.2` = projection back.
/// </summary>
public sealed class FeedForward : Module<Tensor, Tensor>
{
    readonly ModuleList<Module<Tensor, Tensor>> net;

    public FeedForward(long dim, long dimOut, bool tanhApproximation = true, int mult = 4) : base(nameof(FeedForward))
    {
        var inner = dim * mult;
        net = ModuleList<Module<Tensor, Tensor>>(new GeluProjection(dim, inner, tanhApproximation), Identity(), Linear(inner, dimOut));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var hidden = net[0].forward(x);
        return net[2].forward(hidden);
    }
}
