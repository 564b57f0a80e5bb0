namespace JointDiffusion.Gpu.Data;

/// <summary>
/// Where one crop of a <see cref="RandomCropDataset"/> comes from: a <paramref name="Side"/> × <paramref name="Side"/>
/// square of source image <paramref name="Source"/> whose top-left pixel is (<paramref name="X"/>, <paramref name="Y"/>),
/// resized to the dataset's crop size.
/// </summary>
/// <param name="Source">Index into the dataset's source images.</param>
/// <param name="X">Left column of the square in the source.</param>
/// <param name="Y">Top row of the square in the source.</param>
/// <param name="Side">Side of the square in source pixels.</param>
public readonly record struct CropWindow(int Source, int X, int Y, int Side);
