using Studio.Ml.Models.T5;
using Studio.Ml.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Studio.Ml.Distillation;

/// <summary>
/// One step of a teacher trajectory, as the paper's step-following distillation takes it (METHOD.md): the frozen
/// denoiser's conditional velocity on the teacher's states without gradients; on an update step the student's states, the
/// velocity on them, the float32 mean squared error between the two velocities, backward, the student's gradient norm
/// clipped, one AdamW step; then the Euler step of the latents along the teacher's guided velocity (the conditional one
/// where guidance is embedded, FLUX; classifier-free guidance for SD3). The
/// <see cref="Distiller"/> runs every training step through this, and `studio fixture` runs the distill_update
/// reference case through it.
/// </summary>
public sealed class StepFollowingUpdate
{
    readonly StudentEncoder _student;
    readonly IFrozenDenoiser _denoiser;
    readonly FlatAdamW _optimizer;
    readonly double _gradClip;
    readonly LossKind _loss;
    readonly int _gradAccumulation;
    readonly ScalarType _transformerDType;
    /// <summary>The student's parts (<see cref="StudentEncoder.ModuleOf"/>) in parameter order: the optimizer's gradient groups.</summary>
    readonly List<string> _modules = [];

    /// <param name="gradAccumulation">Micro-batches per update; the loss and gradients are those of the whole batch.</param>
    public StepFollowingUpdate(StudentEncoder student, IFrozenDenoiser denoiser, FlatAdamW optimizer, double gradClip,
        LossKind loss = LossKind.Vision, int gradAccumulation = 1)
    {
        _student = student;
        _denoiser = denoiser;
        _optimizer = optimizer;
        _gradClip = gradClip;
        _loss = loss;
        _gradAccumulation = Math.Max(1, gradAccumulation);
        foreach (var p in denoiser.Module.parameters()) p.requires_grad = false;
        denoiser.Module.eval();
        _transformerDType = denoiser.Module.parameters().First().dtype;
        var moduleOf = new Dictionary<IntPtr, int>();
        foreach (var (name, parameter) in student.named_parameters())
        {
            var module = StudentEncoder.ModuleOf(name);
            if (!_modules.Contains(module)) _modules.Add(module);
            moduleOf[parameter.Handle] = _modules.IndexOf(module);
        }
        _optimizer.GroupGradientsBy(p => moduleOf.GetValueOrDefault(p.Handle, -1), _modules.Count);
    }

    /// <summary>
    /// Step <paramref name="j"/> of the trajectory: the teacher's velocity, the student's update when
    /// <paramref name="update"/>, then the latents move to sigma_{j+1}. Returns the update's numbers, or null when the
    /// step was not an update. The caller sets the learning rate and seeds dropout. <paramref name="trace"/>, when
    /// given, keeps copies of the intermediate tensors; <paramref name="phaseEnded"/>, when given, is called with each
    /// <see cref="UpdatePhase"/> as its work has been queued (`studio bench distill --phases` times them).
    /// <paramref name="studentForward"/>, when given, is called before the student's forward on micro-batch k and what it
    /// returns is disposed right after it: a trainer that seeds dropout per forward (<see cref="DropoutRandom.DeviceGenerator"/>).
    /// </summary>
    public UpdateResult? Step(TeacherTrajectory trajectory, int j, bool update, UpdateTrace? trace = null, Action<string>? phaseEnded = null,
        Func<int, IDisposable?>? studentForward = null)
    {
        using var scope = NewDisposeScope();
        var t = trajectory;
        var batchSize = t.Latents.shape[0];
        var sigma = t.Schedule.Sigmas[j];
        // The noise level of every sample; each family turns it into its transformer's timestep.
        var timestep = full(batchSize, sigma, device: t.Latents.device);
        var latents = t.Latents.to_type(_transformerDType);
        Tensor teacherVelocity, followed;
        using (no_grad())
        {
            teacherVelocity = _denoiser.Velocity(latents, timestep, t.Teacher, t.Guidance);
            followed = _denoiser.Guided(teacherVelocity, latents, timestep, t.Guidance);
        }
        trace?.KeepTeacherVelocity(teacherVelocity);
        phaseEnded?.Invoke(UpdatePhase.Teacher);

        var result = update ? Update(t, latents, teacherVelocity, timestep, trace, phaseEnded, studentForward) : null;

        // Advance along the teacher's trajectory (in float32, whatever the transformer's dtype).
        var next = (t.Latents + (t.Schedule.Sigmas[j + 1] - sigma) * followed.to_type(t.Latents.dtype)).MoveToOuterDisposeScope();
        t.ReplaceLatents(next);
        phaseEnded?.Invoke(UpdatePhase.Euler);
        return result;
    }

    UpdateResult Update(TeacherTrajectory t, Tensor latents, Tensor teacherVelocity, Tensor timestep, UpdateTrace? trace, Action<string>? phaseEnded,
        Func<int, IDisposable?>? studentForward)
    {
        _student.train();
        _optimizer.ZeroGrad();

        var batch = t.InputIds.shape[0];
        var chunk = (batch + _gradAccumulation - 1) / _gradAccumulation;
        var sampleLosses = new List<Tensor>();
        for (long start = 0; start < batch; start += chunk)
        {
            using var scope = NewDisposeScope();
            var n = Math.Min(chunk, batch - start);
            Tensor studentStates;
            using (studentForward?.Invoke((int)(start / chunk)))
                studentStates = _student.forward(t.InputIds.narrow(0, start, n), t.AttentionMask?.narrow(0, start, n));
            trace?.KeepStudentStates(studentStates);
            Tensor errors;
            if (_loss == LossKind.Vision)
            {
                var conditioning = t.Teacher.Narrow(start, n) with { Slot = studentStates.to_type(_transformerDType) };
                var studentVelocity = _denoiser.Velocity(latents.narrow(0, start, n), timestep.narrow(0, start, n), conditioning,
                    t.Guidance.narrow(0, start, n));
                trace?.KeepStudentVelocity(studentVelocity);
                errors = (studentVelocity.to_type(ScalarType.Float32) - teacherVelocity.narrow(0, start, n).to_type(ScalarType.Float32)).square();
            }
            else
            {
                errors = (studentStates.to_type(ScalarType.Float32) - t.Teacher.Slot.narrow(0, start, n).to_type(ScalarType.Float32)).square();
            }
            var sampleLoss = errors.flatten(1).mean([1]);
            // The batch loss is the plain mean over all elements; each micro-batch contributes its share.
            var loss = sampleLoss.sum() / batch;
            loss.backward();
            sampleLosses.Add(sampleLoss.detach().MoveToOuterDisposeScope());
        }
        trace?.KeepGradients(_student);
        phaseEnded?.Invoke(UpdatePhase.Student);
        var moduleNorms = _optimizer.GroupGradNorms();
        var gradNorm = _optimizer.ClipGradNorm(_gradClip);
        _optimizer.Step();
        // The update's numbers are read once, after all of its work is queued: the update's one wait for the device.
        var numbers = cat([.. sampleLosses, gradNorm.to_type(ScalarType.Float32).reshape(1), moduleNorms]).cpu().data<float>().ToArray();
        var samples = numbers.Length - 1 - _modules.Count;
        var perSample = numbers[..samples].Select(v => (double)v).ToArray();
        var byModule = _modules.Select((m, i) => (m, (double)numbers[samples + 1 + i])).ToDictionary(x => x.m, x => x.Item2);
        phaseEnded?.Invoke(UpdatePhase.Optimizer);
        return new UpdateResult(perSample.Average(), perSample, numbers[samples], byModule);
    }
}

/// <summary>The phases of a trajectory step, in order; a step that is not an update has the first and the last only.</summary>
public static class UpdatePhase
{
    /// <summary>The frozen denoiser's velocity on the teacher's states (no gradients).</summary>
    public const string Teacher = "teacher";
    /// <summary>The student's forward, the denoiser on its states, the loss and backward, over every micro-batch.</summary>
    public const string Student = "student";
    /// <summary>Gradient clipping, the AdamW step and reading the update's numbers.</summary>
    public const string Optimizer = "optimizer";
    /// <summary>The Euler step of the latents along the teacher's velocity.</summary>
    public const string Euler = "euler";
}

/// <summary>
/// The numbers of one student update: the batch loss, each sample's loss, the gradient norm before clipping, and that
/// norm by part of the student (<see cref="StudentEncoder.ModuleOf"/>, in parameter order; their squares add up to the
/// norm's).
/// </summary>
public sealed record UpdateResult(double Loss, double[] PerSample, double GradientNorm, IReadOnlyDictionary<string, double>? GradientNormByModule = null);

/// <summary>
/// Copies of the intermediate tensors of one <see cref="StepFollowingUpdate.Step"/>, for checking it against a reference
/// (`studio fixture`): the teacher's velocity, the student's states and velocity (one tensor per micro-batch), and the
/// student's gradients before clipping, by parameter name.
/// </summary>
public sealed class UpdateTrace : IDisposable
{
    readonly List<Tensor> _studentStates = [];
    readonly List<Tensor> _studentVelocities = [];
    readonly Dictionary<string, Tensor> _gradients = [];

    public Tensor? TeacherVelocity { get; private set; }
    public IReadOnlyList<Tensor> StudentStates => _studentStates;
    public IReadOnlyList<Tensor> StudentVelocities => _studentVelocities;
    public IReadOnlyDictionary<string, Tensor> Gradients => _gradients;

    internal void KeepTeacherVelocity(Tensor velocity)
    {
        TeacherVelocity?.Dispose();
        TeacherVelocity = Keep(velocity);
    }

    internal void KeepStudentStates(Tensor states) => _studentStates.Add(Keep(states));

    internal void KeepStudentVelocity(Tensor velocity) => _studentVelocities.Add(Keep(velocity));

    internal void KeepGradients(nn.Module student)
    {
        foreach (var (name, parameter) in student.named_parameters())
        {
            using var grad = parameter.grad;
            if (grad is not null) _gradients[name] = Keep(grad);
        }
    }

    static Tensor Keep(Tensor t) => t.detach().clone().DetachFromDisposeScope();

    public void Dispose()
    {
        TeacherVelocity?.Dispose();
        foreach (var t in _studentStates.Concat(_studentVelocities).Concat(_gradients.Values)) t.Dispose();
    }
}
