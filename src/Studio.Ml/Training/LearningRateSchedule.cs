namespace Studio.Ml.Training;

/// <summary>Learning rate of an update within its stage: constant, or linear warm-up then cosine decay to zero.</summary>
public static class LearningRateSchedule
{
    /// <param name="update">0-based update index within the stage.</param>
    public static double At(string schedule, double baseLr, long update, long stageUpdates, int warmupUpdates)
    {
        var warm = warmupUpdates > 0 && update < warmupUpdates ? (update + 1.0) / warmupUpdates : 1.0;
        return schedule switch
        {
            "constant" => baseLr * warm,
            "cosine" when update < warmupUpdates => baseLr * warm,
            "cosine" => baseLr * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, (double)(update - warmupUpdates) / Math.Max(1, stageUpdates - warmupUpdates)))),
            _ => throw new ArgumentException($"optimizer.schedule: unknown schedule '{schedule}' (use constant or cosine)"),
        };
    }
}
