namespace Studio.Ml.Distillation;

/// <summary>
/// A run whose loss or gradient norm stopped being a number (NaN or infinite): its weights are lost from that update on,
/// so the trainer stops it there instead of training and checkpointing NaN weights to the end and calling it complete.
/// The message says where and what to change; the checkpoints written before it are kept.
/// </summary>
public sealed class TrainingDivergedException(string message) : Exception(message)
{
    /// <summary>Throws when <paramref name="update"/>'s loss or gradient norm is not finite.</summary>
    public static void ThrowIfNotFinite(UpdateResult update, long step, double lr, string? lastCheckpoint)
    {
        if (double.IsFinite(update.Loss) && double.IsFinite(update.GradientNorm)) return;
        var what = double.IsFinite(update.Loss) ? $"the gradient norm is {Describe(update.GradientNorm)}" : $"the loss is {Describe(update.Loss)}";
        throw new TrainingDivergedException(
            $"the run diverged at update {step:N0}: {what} (learning rate {lr:G3}); lower optimizer.lr, raise optimizer.warmup_updates " +
            "or lower optimizer.grad_clip. " +
            (lastCheckpoint is null ? "No checkpoint was written before it." : $"The checkpoints before it are kept (the latest: {Path.GetFileName(lastCheckpoint)})."));
    }

    static string Describe(double value) => double.IsNaN(value) ? "NaN" : value > 0 ? "+infinity" : "-infinity";
}
