using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// The 1-D transforms of Winograd's minimal filtering algorithm F(4, 3) (Lavin and Gray, "Fast Algorithms for
/// Convolutional Neural Networks", 2016; interpolation points 0, ±1, ±2, ∞), on vectors of independent lanes. For
/// an input run d (6 values) and 3 taps g, the 4 outputs of the correlation y_i = Σ_j g_j·d_{i+j} are
/// y = Aᵀ[(G g) ⊙ (Bᵀ d)], with
/// <code>
/// Bᵀ = [ 4  0 −5  0  1  0 ]     G = [  1/4    0     0  ]     Aᵀ = [ 1  1  1  1  1  0 ]
///      [ 0 −4 −4  1  1  0 ]         [ −1/6 −1/6  −1/6 ]          [ 0  1 −1  2 −2  0 ]
///      [ 0  4 −4 −1  1  0 ]         [ −1/6  1/6  −1/6 ]          [ 0  1  1  4  4  0 ]
///      [ 0 −2 −1  2  1  0 ]         [ 1/24 1/12   1/6 ]          [ 0  1 −1  8 −8  1 ]
///      [ 0  2 −1 −2  1  0 ]         [ 1/24 −1/12  1/6 ]
///      [ 0  4  0 −5  0  1 ]         [   0    0     1  ]
/// </code>
/// The 2-D algorithm applies each on both axes (Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A). The weight gradient follows by the
/// chain rule: ∂L/∂g = Gᵀ[(A ∂L/∂Y Aᵀ) ⊙ (Bᵀ d B)]G, so it needs the transposes A (<see cref="OutputGradient"/>) and
/// Gᵀ (<see cref="FilterGradient"/>) too. Each is written out with the shared sums factored, as in the paper.
/// </summary>
internal static class SimdWinogradTransforms
{
    private static readonly Vector512<float> Two = Vector512.Create(2f);
    private static readonly Vector512<float> Four = Vector512.Create(4f);
    private static readonly Vector512<float> MinusFour = Vector512.Create(-4f);
    private static readonly Vector512<float> MinusFive = Vector512.Create(-5f);
    private static readonly Vector512<float> Eight = Vector512.Create(8f);
    private static readonly Vector512<float> Quarter = Vector512.Create(0.25f);
    private static readonly Vector512<float> Sixth = Vector512.Create(1f / 6f);
    private static readonly Vector512<float> MinusSixth = Vector512.Create(-1f / 6f);
    private static readonly Vector512<float> Twelfth = Vector512.Create(1f / 12f);
    private static readonly Vector512<float> TwentyFourth = Vector512.Create(1f / 24f);

    /// <summary>t = Bᵀ d (input transform).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Input(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3, Vector512<float> d4,
        Vector512<float> d5, out Vector512<float> t0, out Vector512<float> t1, out Vector512<float> t2, out Vector512<float> t3,
        out Vector512<float> t4, out Vector512<float> t5)
    {
        var a = Vector512.FusedMultiplyAdd(MinusFour, d2, d4); // d4 − 4·d2
        var b = Vector512.FusedMultiplyAdd(MinusFour, d1, d3); // d3 − 4·d1
        var c = d4 - d2;
        var e = Two * (d3 - d1);
        t0 = Vector512.FusedMultiplyAdd(Four, d0, Vector512.FusedMultiplyAdd(MinusFive, d2, d4));
        t1 = a + b;
        t2 = a - b;
        t3 = c + e;
        t4 = c - e;
        t5 = Vector512.FusedMultiplyAdd(Four, d1, Vector512.FusedMultiplyAdd(MinusFive, d3, d5));
    }

    /// <summary>y = Aᵀ m (output transform).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Output(Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3, Vector512<float> m4,
        Vector512<float> m5, out Vector512<float> y0, out Vector512<float> y1, out Vector512<float> y2, out Vector512<float> y3)
    {
        var s12 = m1 + m2;
        var d12 = m1 - m2;
        var s34 = m3 + m4;
        var d34 = m3 - m4;
        y0 = m0 + s12 + s34;
        y1 = Vector512.FusedMultiplyAdd(Two, d34, d12);
        y2 = Vector512.FusedMultiplyAdd(Four, s34, s12);
        y3 = Vector512.FusedMultiplyAdd(Eight, d34, d12) + m5;
    }

    /// <summary>u = G g (filter transform).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Filter(Vector512<float> g0, Vector512<float> g1, Vector512<float> g2, out Vector512<float> u0, out Vector512<float> u1,
        out Vector512<float> u2, out Vector512<float> u3, out Vector512<float> u4, out Vector512<float> u5)
    {
        var p = g0 + g2;
        var q = Vector512.FusedMultiplyAdd(TwentyFourth, g0, Sixth * g2); // g0/24 + g2/6
        var r = Twelfth * g1;
        u0 = Quarter * g0;
        u1 = MinusSixth * (p + g1);
        u2 = MinusSixth * (p - g1);
        u3 = q + r;
        u4 = q - r;
        u5 = g2;
    }

    /// <summary>z = A δ (transpose of the output transform: the output gradient into the transformed domain).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void OutputGradient(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3,
        out Vector512<float> z0, out Vector512<float> z1, out Vector512<float> z2, out Vector512<float> z3, out Vector512<float> z4,
        out Vector512<float> z5)
    {
        var s02 = d0 + d2;
        var s13 = d1 + d3;
        var p = Vector512.FusedMultiplyAdd(Four, d2, d0); // d0 + 4·d2
        var q = Vector512.FusedMultiplyAdd(Eight, d3, Two * d1); // 2·d1 + 8·d3
        z0 = d0;
        z1 = s02 + s13;
        z2 = s02 - s13;
        z3 = p + q;
        z4 = p - q;
        z5 = d3;
    }

    /// <summary>g = Gᵀ u (transpose of the filter transform: the transformed gradient back to the 3 taps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void FilterGradient(Vector512<float> u0, Vector512<float> u1, Vector512<float> u2, Vector512<float> u3, Vector512<float> u4,
        Vector512<float> u5, out Vector512<float> g0, out Vector512<float> g1, out Vector512<float> g2)
    {
        var s12 = u1 + u2;
        var s34 = u3 + u4;
        g0 = Vector512.FusedMultiplyAdd(Quarter, u0, Vector512.FusedMultiplyAdd(MinusSixth, s12, TwentyFourth * s34));
        g1 = Vector512.FusedMultiplyAdd(Sixth, u2 - u1, Twelfth * (u3 - u4));
        g2 = Vector512.FusedMultiplyAdd(Sixth, s34 - s12, u5);
    }
}
