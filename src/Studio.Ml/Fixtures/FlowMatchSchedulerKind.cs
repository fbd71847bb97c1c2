using System.Text.RegularExpressions;
using Studio.Ml.Diffusion;
using Studio.Ml.Models.Common;
using static TorchSharp.torch;

namespace Studio.Ml.Fixtures;

/// <summary>
/// diffusers `FlowMatchEulerDiscreteScheduler` with FluxPipeline's sigmas. Outputs are named by what they ask for:
/// `sigmas_n{steps}_seq{tokens}`, `timesteps_n{steps}_seq{tokens}`, `mu_seq{tokens}`, and `prev_sample`, which applies
/// `euler_steps_applied` Euler steps of the schedule named by the `euler_schedule` metadata (`n{steps}_seq{tokens}`)
/// to the `sample` input with the same `model_output`.
/// </summary>
public sealed partial class FlowMatchSchedulerKind : IFixtureKind
{
    public string Name => "flow-match-scheduler";

    public bool Matches(FixtureFolder fixture) => fixture.ClassNames().Contains("FlowMatchEulerDiscreteScheduler");

    /// <remarks>Sigmas, timesteps and mu are host arithmetic (double); the Euler steps run on <paramref name="device"/>.</remarks>
    public IReadOnlyDictionary<string, Tensor> Compute(FixtureFolder fixture, Device device)
    {
        var scheduler = new FlowMatchEulerScheduler(FlowMatchSchedulerConfig.From(new ModelConfig(fixture.Config, fixture.ConfigPath)));
        var outputs = new Dictionary<string, Tensor>();
        foreach (var name in fixture.Outputs.Keys)
        {
            if (ScheduleOutput().Match(name) is { Success: true } s)
            {
                var schedule = scheduler.FluxInference(int.Parse(s.Groups[2].Value), int.Parse(s.Groups[3].Value));
                outputs[name] = tensor((s.Groups[1].Value == "sigmas" ? schedule.Sigmas : schedule.Timesteps).ToArray());
            }
            else if (MuOutput().Match(name) is { Success: true } m)
            {
                outputs[name] = tensor(new[] { scheduler.Mu(int.Parse(m.Groups[1].Value)) });
            }
            else if (name == "prev_sample")
            {
                outputs[name] = EulerSteps(fixture, scheduler, device);
            }
            else
            {
                throw new NotSupportedException($"{fixture.Directory}: output '{name}' is not a scheduler output this kind knows " +
                    "(sigmas_n<steps>_seq<tokens>, timesteps_n<steps>_seq<tokens>, mu_seq<tokens>, prev_sample)");
            }
        }
        return outputs;
    }

    static Tensor EulerSteps(FixtureFolder fixture, FlowMatchEulerScheduler scheduler, Device device)
    {
        var scheduleName = Metadata(fixture, "euler_schedule");
        var named = EulerSchedule().Match(scheduleName);
        if (!named.Success) throw new InvalidDataException($"{fixture.Directory}: euler_schedule '{scheduleName}' is not of the form n<steps>_seq<tokens>");
        var stepsText = Metadata(fixture, "euler_steps_applied");
        if (!int.TryParse(stepsText, out var steps) || steps < 0)
            throw new InvalidDataException($"{fixture.Directory}: euler_steps_applied '{stepsText}' is not a non-negative integer");
        var schedule = scheduler.FluxInference(int.Parse(named.Groups[1].Value), int.Parse(named.Groups[2].Value));
        if (steps > schedule.Steps) throw new InvalidDataException($"{fixture.Directory}: euler_steps_applied {steps} exceeds the {schedule.Steps} steps of {scheduleName}");

        using var modelOutput = fixture.Input("model_output", device);
        var sample = fixture.Input("sample", device);
        for (int i = 0; i < steps; i++)
        {
            var next = schedule.Step(modelOutput, i, sample);
            sample.Dispose();
            sample = next;
        }
        return sample;
    }

    static string Metadata(FixtureFolder fixture, string key) =>
        fixture.OutputMetadata.TryGetValue(key, out var value) ? value
        : fixture.Inputs.Metadata.TryGetValue(key, out value) ? value
        : throw new InvalidDataException($"{fixture.Directory}: the safetensors metadata has no '{key}' (needed for prev_sample)");

    [GeneratedRegex(@"^(sigmas|timesteps)_n(\d+)_seq(\d+)$")]
    private static partial Regex ScheduleOutput();

    [GeneratedRegex(@"^mu_seq(\d+)$")]
    private static partial Regex MuOutput();

    [GeneratedRegex(@"^n(\d+)_seq(\d+)$")]
    private static partial Regex EulerSchedule();
}
