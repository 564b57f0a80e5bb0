using System.Globalization;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// The <c>--shard INDEX/COUNT</c> value (0-based): this process takes the files at positions i of the sorted
/// folder listing with i mod COUNT = INDEX, so COUNT processes with INDEX 0 … COUNT − 1 cover every file once.
/// </summary>
internal readonly record struct DenoiseShard(int Index, int Count)
{
    /// <summary>The whole folder in one process.</summary>
    public static DenoiseShard All => new(0, 1);

    /// <summary>Parses <c>INDEX/COUNT</c> (decimal digits only); anything else is a usage error naming the problem.</summary>
    public static DenoiseShard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count))
        {
            throw new UsageException($"--shard must be INDEX/COUNT with whole numbers, 0-based (e.g. 0/4); got '{text}'.");
        }

        if (count < 1)
        {
            throw new UsageException($"--shard {text}: COUNT must be ≥ 1.");
        }

        if (index >= count)
        {
            throw new UsageException($"--shard {text}: INDEX must be in 0 … {count - 1} (0-based).");
        }

        return new DenoiseShard(index, count);
    }

    /// <summary>Whether the file at position <paramref name="position"/> of the sorted listing belongs to this shard.</summary>
    public bool Contains(int position) => position % Count == Index;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}
