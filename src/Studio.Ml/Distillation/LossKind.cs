namespace Studio.Ml.Distillation;

/// <summary>What the student is trained to match (run YAML `loss`: vision or naive).</summary>
public enum LossKind
{
    /// <summary>The paper's loss: MSE between the frozen transformer's velocities on the student's and the teacher's states.</summary>
    Vision,
    /// <summary>The ablation: MSE between the student's projected states and the teacher's.</summary>
    Naive,
}

public static class LossKinds
{
    /// <summary>The word run YAML uses: "vision", "naive".</summary>
    public static string Word(this LossKind kind) => kind.ToString().ToLowerInvariant();
}
