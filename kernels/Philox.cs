namespace JointDiffusion.Kernels;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), a counter-based
/// generator: the random numbers for element i depend only on (seed, i), so every backend, every thread
/// order and every slice of a stream gives the same values. Used by the ILGPU kernels and by the SIMD
/// backend alike, so both backends share one definition.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;

    /// <summary>
    /// The standard normal number with stream index <paramref name="index"/> under <paramref name="seed"/>.
    /// Index i uses Philox block i/4; lanes (0,1) and (2,3) of a block form Box–Muller pairs (cos, sin).
    /// </summary>
    public static float Gaussian(ulong seed, ulong index)
    {
        ulong block = index >> 2;
        uint lane = (uint)(index & 3UL);
        Block(seed, block, out uint r0, out uint r1, out uint r2, out uint r3);
        uint a = lane < 2 ? r0 : r2;
        uint b = lane < 2 ? r1 : r3;
        // 24-bit uniforms in (0, 1): the half-step offset keeps log away from 0. The (int) cast keeps the
        // conversion in single precision on devices without doubles (ILGPU converts uint→float via double).
        float u1 = ((int)(a >> 8) + 0.5f) * (1f / 16777216f);
        float u2 = ((int)(b >> 8) + 0.5f) * (1f / 16777216f);
        float radius = MathF.Sqrt(-2f * MathF.Log(u1));
        float angle = 2f * MathF.PI * u2;
        return (lane & 1) == 0 ? radius * MathF.Cos(angle) : radius * MathF.Sin(angle);
    }

    /// <summary>
    /// A uniform number in (0, 1) with stream index <paramref name="index"/> under <paramref name="seed"/>:
    /// lane i mod 4 of Philox block i/4, as 24 bits.
    /// </summary>
    public static float Uniform(ulong seed, ulong index)
    {
        Block(seed, index >> 2, out uint r0, out uint r1, out uint r2, out uint r3);
        uint lane = (uint)(index & 3UL);
        uint r = lane == 0 ? r0 : lane == 1 ? r1 : lane == 2 ? r2 : r3;
        return ((int)(r >> 8) + 0.5f) * (1f / 16777216f);
    }

    /// <summary>One Philox4x32-10 block: counter (block, 0), key = seed.</summary>
    public static void Block(ulong seed, ulong block, out uint r0, out uint r1, out uint r2, out uint r3)
    {
        uint c0 = (uint)block, c1 = (uint)(block >> 32), c2 = 0, c3 = 0;
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }

        r0 = c0;
        r1 = c1;
        r2 = c2;
        r3 = c3;
    }
}
