using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// The few vector operations the conv micro-kernels need, over one hardware vector type. The kernels are
/// generic over a struct implementing this, so the JIT compiles one specialised copy per vector width
/// (Vector512 on AVX-512, Vector256 on AVX2, Vector128 elsewhere) with every call inlined.
/// </summary>
/// <typeparam name="TVec">The vector of floats.</typeparam>
internal interface ISimdConvLanes<TVec>
    where TVec : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }

    /// <summary>The zero vector.</summary>
    static abstract TVec Zero { get; }

    /// <summary>Unaligned load of <see cref="Count"/> floats at <paramref name="source"/> + <paramref name="offset"/>.</summary>
    static abstract TVec Load(ref float source, nuint offset);

    /// <summary>Unaligned store at <paramref name="destination"/> + <paramref name="offset"/>.</summary>
    static abstract void Store(TVec value, ref float destination, nuint offset);

    /// <summary>Every lane set to <paramref name="value"/>.</summary>
    static abstract TVec Broadcast(float value);

    /// <summary>a + b.</summary>
    static abstract TVec Add(TVec a, TVec b);

    /// <summary>a·b + addend, fused (one rounding), as the hardware FMA.</summary>
    static abstract TVec MultiplyAdd(TVec a, TVec b, TVec addend);

    /// <summary>
    /// The lane sums of four vectors, [Σa, Σb, Σc, Σd]: each is folded to 128 bits (upper half added to lower),
    /// then the four are transposed and added, about a quarter of the instructions of four <c>Vector512.Sum</c>.
    /// </summary>
    static abstract Vector128<float> Sum4(TVec a, TVec b, TVec c, TVec d);
}

/// <summary>512-bit lanes (AVX-512: 32 vector registers, so the wide 4×6 tiles fit).</summary>
internal readonly struct SimdConvLanes512 : ISimdConvLanes<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;

    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source, nuint offset) => Vector512.LoadUnsafe(ref source, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> addend) =>
        Vector512.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d) =>
        SimdConvLanes128.Sum4(Fold(a), Fold(b), Fold(c), Fold(d));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Fold(Vector512<float> value) => SimdConvLanes256.Fold(value.GetLower() + value.GetUpper());
}

/// <summary>256-bit lanes (AVX2: 16 vector registers, so the narrow 4×3 tiles).</summary>
internal readonly struct SimdConvLanes256 : ISimdConvLanes<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;

    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source, nuint offset) => Vector256.LoadUnsafe(ref source, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> addend) =>
        Vector256.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d) =>
        SimdConvLanes128.Sum4(Fold(a), Fold(b), Fold(c), Fold(d));

    /// <summary>The two 128-bit halves added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Fold(Vector256<float> value) => value.GetLower() + value.GetUpper();
}

/// <summary>128-bit lanes (SSE, Arm64 AdvSimd, or software emulation where nothing is accelerated).</summary>
internal readonly struct SimdConvLanes128 : ISimdConvLanes<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;

    public static Vector128<float> Zero => Vector128<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source, nuint offset) => Vector128.LoadUnsafe(ref source, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Broadcast(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> addend) =>
        Vector128.FusedMultiplyAdd(a, b, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d)
    {
        if (Sse.IsSupported)
        {
            // [a0+a2, b0+b2, a1+a3, b1+b3] and the same for c, d; then the low and high pairs added.
            var ab = Sse.UnpackLow(a, b) + Sse.UnpackHigh(a, b);
            var cd = Sse.UnpackLow(c, d) + Sse.UnpackHigh(c, d);
            return Sse.MoveLowToHigh(ab, cd) + Sse.MoveHighToLow(cd, ab);
        }

        return Vector128.Create(Vector128.Sum(a), Vector128.Sum(b), Vector128.Sum(c), Vector128.Sum(d));
    }
}
