using System.Text.RegularExpressions;
using Studio.Ml.Diffusion;
using Studio.Ml.Tensors;
using static TorchSharp.torch;

namespace Studio.Ml.Tests.Diffusion;

public class FlowMatchSchedulerTests
{
    public FlowMatchSchedulerTests() => TorchRuntime.Initialise();

    [Fact]
    public void FluxInferenceSchedulesAndEulerStepsMatchDiffusers() =>
        FixtureAssert.Matches("flow_match_scheduler", toleranceOf: _ => FixtureAssert.ScheduleTolerance);

    [Fact]
    public void PipelineSigmasAreNumpyLinspace()
    {
        using var inputs = SafeTensorsFile.Open(Path.Combine(TestPaths.Fixture("flow_match_scheduler"), "inputs.safetensors"));
        var checkedCount = 0;
        foreach (var name in inputs.Entries.Keys)
        {
            if (Regex.Match(name, @"^pipeline_sigmas_n(\d+)$") is not { Success: true } m) continue;
            using var expected = inputs.Read(name);
            var actual = FlowMatchEulerScheduler.PipelineSigmas(int.Parse(m.Groups[1].Value));
            Assert.Equal(expected.data<double>().ToArray(), actual);
            checkedCount++;
        }
        Assert.True(checkedCount > 0, "the fixture has no pipeline_sigmas_n* inputs");
    }

    [Fact]
    public void DistillationScheduleShiftsLinspaceFromOneToOneThousandthAndEndsAtZero()
    {
        // METHOD.md: mu is 0.63 for 512^2 images (32x32 = 1024 tokens); sigmas linspace(1.0, 0.001, 20), shifted, then 0.
        var scheduler = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Flux);
        Assert.Equal(0.63, scheduler.Mu(1024), 12);
        Assert.Equal(1.15, scheduler.Mu(4096), 12);
        var schedule = scheduler.DistillationTraining(20, 1024);
        Assert.Equal(20, schedule.Steps);
        Assert.Equal(21, schedule.Sigmas.Count);
        Assert.Equal(1f, schedule.Sigmas[0]);
        Assert.Equal(0f, schedule.Sigmas[20]);
        static double Shifted(double sigma) => Math.Exp(0.63) / (Math.Exp(0.63) + (1 / sigma - 1));
        Assert.Equal(Shifted(0.001), schedule.Sigmas[19], 6);
        Assert.Equal(Shifted(1.0 - 0.999 / 19 * 10), schedule.Sigmas[10], 6);
        Assert.Equal(schedule.Sigmas[10] * 1000f, schedule.Timesteps[10]);
        for (int i = 0; i < 20; i++) Assert.True(schedule.Sigmas[i] > schedule.Sigmas[i + 1]);
    }

    [Fact]
    public void Sd3ScheduleShiftsStaticallyFromTheShiftedTrainingTable()
    {
        // diffusers builds its table with the static shift already applied (sigma_min = 3*0.001/(1+2*0.001)), then
        // set_timesteps shifts the linspace between sigma_max and sigma_min once more.
        var scheduler = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Sd3);
        var schedule = scheduler.Sd3Inference(28);
        static double Shift(double s) => 3 * s / (1 + 2 * s);
        Assert.Equal(1f, schedule.Sigmas[0]);
        Assert.Equal(Shift(Shift(0.001)), schedule.Sigmas[27], 6);
        Assert.Equal(0f, schedule.Sigmas[28]);
        Assert.Throws<InvalidOperationException>(() => new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Flux).Sd3Inference(28));
    }

    [Fact]
    public void EulerStepKeepsTheModelDtypeAndAddsInFloat32()
    {
        var schedule = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.Flux).FluxInference(4, 256);
        using var sample = ones(2, 3);
        using var velocity = full(2, 3, 2f).to_type(ScalarType.BFloat16);
        using var next = schedule.Step(velocity, 0, sample);
        Assert.Equal(ScalarType.BFloat16, next.dtype);
        using var expected = full(2, 3, 1f + 2f * (schedule.Sigmas[1] - schedule.Sigmas[0])).to_type(ScalarType.BFloat16);
        Assert.True(next.eq(expected).all().item<bool>());
        Assert.Throws<ArgumentOutOfRangeException>(() => schedule.Step(velocity, 4, sample));
    }
}
