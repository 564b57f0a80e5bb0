using System.Text;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// The seed of one image of a folder run, from the run's <c>--seed</c> and the image's file name, so that an
/// image's result does not depend on the shard or batch it falls in, nor on which other files the folder holds.
/// </summary>
internal static class DenoiseImageSeed
{
    /// <summary>
    /// splitmix64(seed + φ·(h + 1)) with h the 64-bit FNV-1a hash of the UTF-8 file name and φ = 0x9E3779B97F4A7C15,
    /// the same mixer the sampler uses to derive its stream seeds.
    /// </summary>
    public static ulong For(ulong seed, string fileName)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(fileName))
        {
            h = (h ^ b) * 0x100000001B3UL;
        }

        ulong z = seed + 0x9E3779B97F4A7C15UL * (h + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
