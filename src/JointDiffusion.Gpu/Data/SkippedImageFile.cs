namespace JointDiffusion.Gpu.Data;

/// <summary>An image file that a folder-based dataset found but could not use, and why.</summary>
/// <param name="Path">The file.</param>
/// <param name="Reason">The loader's message, e.g. <c>a.png: is a truncated or incomplete PNG file: …</c>.</param>
public sealed record SkippedImageFile(string Path, string Reason);
