namespace JointDiffusion.Gpu.Backends;

/// <summary>A device found on this machine.</summary>
/// <param name="Kind">The <c>--device</c> kind that selects it.</param>
/// <param name="Name">The device's own name.</param>
/// <param name="Details">Memory, compute units, SIMD width and similar facts.</param>
/// <param name="Usable">Whether this library can run on it.</param>
/// <param name="WhyNot">When not usable, the reason.</param>
public sealed record DeviceDescription(DeviceKind Kind, string Name, string Details, bool Usable, string? WhyNot);
