using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// The vector operations of the max-pool kernels (<see cref="SimdMaxPool"/>) over one hardware vector of floats;
/// as <see cref="ISimdConvLanes{TVec}"/>, the kernels are generic over it so the JIT compiles one copy per width.
/// </summary>
/// <typeparam name="TVec">The vector of floats.</typeparam>
internal interface ISimdPoolLanes<TVec>
    where TVec : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }

    /// <summary>[0, 1, …, Count − 1].</summary>
    static abstract TVec Indices { get; }

    /// <summary>Unaligned load of <see cref="Count"/> floats at <paramref name="source"/> + <paramref name="offset"/>.</summary>
    static abstract TVec Load(ref float source, nuint offset);

    /// <summary>Unaligned store at <paramref name="destination"/> + <paramref name="offset"/>.</summary>
    static abstract void Store(TVec value, ref float destination, nuint offset);

    /// <summary>Every lane set to <paramref name="value"/>.</summary>
    static abstract TVec Broadcast(float value);

    /// <summary>a + b.</summary>
    static abstract TVec Add(TVec a, TVec b);

    /// <summary>The larger of a and b per lane (both finite here: indices held as floats).</summary>
    static abstract TVec Max(TVec a, TVec b);

    /// <summary>
    /// All-ones lanes where <paramref name="candidate"/> replaces <paramref name="best"/> when scanning a window in
    /// order: it is larger, or it is NaN and best is not (PyTorch propagates NaN; the first NaN stays).
    /// </summary>
    static abstract TVec Replaces(TVec candidate, TVec best);

    /// <summary>Lanes of <paramref name="ifTrue"/> where <paramref name="mask"/> is all-ones, else of <paramref name="ifFalse"/>.</summary>
    static abstract TVec Select(TVec mask, TVec ifTrue, TVec ifFalse);
}

/// <summary>512-bit lanes (AVX-512).</summary>
internal readonly struct SimdPoolLanes512 : ISimdPoolLanes<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;

    public static Vector512<float> Indices => Vector512<float>.Indices;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source, nuint offset) => Vector512.LoadUnsafe(ref source, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Replaces(Vector512<float> candidate, Vector512<float> best) =>
        Vector512.GreaterThan(candidate, best) | Vector512.AndNot(Vector512.Equals(best, best), Vector512.Equals(candidate, candidate));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Select(Vector512<float> mask, Vector512<float> ifTrue, Vector512<float> ifFalse) =>
        Vector512.ConditionalSelect(mask, ifTrue, ifFalse);
}

/// <summary>256-bit lanes (AVX2).</summary>
internal readonly struct SimdPoolLanes256 : ISimdPoolLanes<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;

    public static Vector256<float> Indices => Vector256<float>.Indices;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source, nuint offset) => Vector256.LoadUnsafe(ref source, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Replaces(Vector256<float> candidate, Vector256<float> best) =>
        Vector256.GreaterThan(candidate, best) | Vector256.AndNot(Vector256.Equals(best, best), Vector256.Equals(candidate, candidate));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Select(Vector256<float> mask, Vector256<float> ifTrue, Vector256<float> ifFalse) =>
        Vector256.ConditionalSelect(mask, ifTrue, ifFalse);
}

/// <summary>128-bit lanes (SSE, Arm64 AdvSimd, or the runtime's software fallback where nothing is accelerated).</summary>
internal readonly struct SimdPoolLanes128 : ISimdPoolLanes<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;

    public static Vector128<float> Indices => Vector128<float>.Indices;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source, nuint offset) => Vector128.LoadUnsafe(ref source, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Broadcast(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Replaces(Vector128<float> candidate, Vector128<float> best) =>
        Vector128.GreaterThan(candidate, best) | Vector128.AndNot(Vector128.Equals(best, best), Vector128.Equals(candidate, candidate));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Select(Vector128<float> mask, Vector128<float> ifTrue, Vector128<float> ifFalse) =>
        Vector128.ConditionalSelect(mask, ifTrue, ifFalse);
}
