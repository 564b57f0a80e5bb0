using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>The AVX-512 16x16 transpose that the Winograd convolutions use to change layouts.</summary>
public sealed class SimdTranspose16Tests
{
    [Fact]
    public void Transpose_MovesEveryElementToItsMirror()
    {
        if (!SimdWinograd.Supported)
        {
            return; // no AVX-512: the transpose is never called (SimdWinogradTests checks the fallback)
        }

        // Distinct values, source rows 20 floats apart and destination rows 24 apart, so a stride mix-up shows.
        var source = Enumerable.Range(0, 16 * 20).Select(i => (float)i).ToArray();
        var destination = Enumerable.Repeat(float.NaN, 16 * 24).ToArray();

        SimdTranspose16.Transpose(ref source[0], 20, ref destination[0], 24);

        for (int c = 0; c < 16; c++)
        {
            for (int r = 0; r < 16; r++)
            {
                Assert.Equal(source[r * 20 + c], destination[c * 24 + r]);
            }

            Assert.All(destination.AsSpan(c * 24 + 16, 8).ToArray(), v => Assert.True(float.IsNaN(v))); // nothing past a row
        }
    }
}
