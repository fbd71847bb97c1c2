using Studio.Ml.Models.Common;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Models;

public class ActivationCheckpointTests
{
    public ActivationCheckpointTests() => TorchRuntime.Initialise();

    [Fact]
    public void RecomputesInTheBackwardPassAndReturnsTheSameGradients()
    {
        using var scope = NewDisposeScope();
        var weight = tensor(new[] { 0.5f, -2f, 3f }).requires_grad_(true);
        var calls = 0;
        Tensor[] Block(Tensor[] x)
        {
            calls++;
            return [(x[0] * weight).sin() * x[1], x[0].exp()];
        }

        var a = tensor(new[] { 0.1f, 0.2f, 0.3f }).requires_grad_(true);
        var b = tensor(new[] { 1f, 2f, -1f });
        var outputs = ActivationCheckpoint.Run(Block, a, b);
        Assert.Equal(1, calls);
        Assert.True(outputs[0].requires_grad, "the checkpointed output is not connected to the graph");
        (outputs[0].sum() + 2 * outputs[1].sum()).backward();
        Assert.Equal(2, calls);

        // d/da [sin(a w) b + 2 exp(a)] = cos(a w) w b + 2 exp(a); d/dw = cos(a w) a b.
        using var noGrad = no_grad();
        var expectedA = (a * weight).cos() * weight * b + 2 * a.exp();
        var expectedW = (a * weight).cos() * a * b;
        Assert.True(a.grad!.allclose(expectedA, rtol: 1e-6, atol: 1e-7));
        Assert.True(weight.grad!.allclose(expectedW, rtol: 1e-6, atol: 1e-7));
        Assert.Null(b.grad);
    }

    [Fact]
    public void WithoutGradientsItIsAPlainCall()
    {
        using var noGrad = no_grad();
        var calls = 0;
        var outputs = ActivationCheckpoint.Run(x => { calls++; return [x[0] * 2]; }, ones(2).requires_grad_(true));
        Assert.Equal(1, calls);
        Assert.Equal(new[] { 2f, 2f }, outputs[0].data<float>().ToArray());
    }
}
