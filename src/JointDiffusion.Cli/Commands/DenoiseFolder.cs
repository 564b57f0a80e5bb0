namespace JointDiffusion.Cli.Commands;

/// <summary>
/// The image files of a folder <c>--input</c>: non-recursive, hidden files (names starting with '.') and
/// non-image files left out, sorted by ordinal file name so that every shard sees the same order.
/// </summary>
/// <param name="Path">The folder.</param>
/// <param name="Files">Full paths of the image files (by extension, including formats that are then refused), sorted.</param>
internal sealed record DenoiseFolder(string Path, IReadOnlyList<string> Files)
{
    /// <summary>Lists <paramref name="directory"/>.</summary>
    public static DenoiseFolder List(string directory)
    {
        var files = Directory.EnumerateFiles(directory)
            .Where(f => !System.IO.Path.GetFileName(f).StartsWith('.'))
            .Where(f => Observation.IsImagePath(f) || Observation.IsUnsupportedImagePath(f))
            .OrderBy(System.IO.Path.GetFileName, StringComparer.Ordinal)
            .ToArray();
        return new DenoiseFolder(directory, files);
    }
}
