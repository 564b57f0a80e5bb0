namespace JointDiffusion.Gpu.Training;

/// <summary>Progress of a training run, reported after each step.</summary>
/// <param name="Step">Steps done in all (including those before a resume).</param>
/// <param name="TargetSteps">The step the run stops at.</param>
/// <param name="Loss">This step's loss.</param>
/// <param name="SmoothedLoss">Mean loss of the last 100 steps.</param>
/// <param name="StepsPerSecond">Speed of this session.</param>
/// <param name="CheckpointWritten">Whether a checkpoint was written after this step.</param>
public readonly record struct TrainingProgress(long Step, long TargetSteps, float Loss, float SmoothedLoss, double StepsPerSecond, bool CheckpointWritten);
