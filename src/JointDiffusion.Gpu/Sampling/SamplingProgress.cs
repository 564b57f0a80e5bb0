namespace JointDiffusion.Gpu.Sampling;

/// <summary>Progress of a sampling run, reported after each step.</summary>
/// <param name="Step">Steps done.</param>
/// <param name="Steps">Steps in all.</param>
/// <param name="Elapsed">Wall time so far.</param>
public readonly record struct SamplingProgress(int Step, int Steps, TimeSpan Elapsed);
