using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using JointDiffusion.Gpu.Backends.Simd;

namespace JointDiffusion.Benchmarks;

/// <summary>
/// The machine's FMA peak as C# reaches it: 24 independent accumulator chains of the widest accelerated
/// vector (the vectors the SIMD conv kernels use), on one thread and on one per core. The conv benchmarks state their speed
/// as a fraction of this, measured in the same run (<see cref="PeakFractionColumn"/>).
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet derives from benchmark classes.</remarks>
[Config(typeof(KernelBenchmarkConfig))]
public class FmaPeakBenchmark
{
    /// <summary>Independent FMA chains per thread: enough to cover the FMA latency × throughput product.</summary>
    public const int Chains = 24;

    /// <summary>Loop trips per thread per invocation (about 7 ms at 120 GFLOP/s).</summary>
    public const int Trips = 1 << 20;

    /// <summary>Threads running chains at once.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>One thread, and one per core.</summary>
    public static IEnumerable<int> ThreadCounts => Environment.ProcessorCount == 1 ? [1] : [1, Environment.ProcessorCount];

    /// <summary>Floating-point operations of one invocation: 2 per lane per FMA.</summary>
    public static double Flops(int threads) => 2.0 * threads * Chains * Trips * LaneCount;

    private static int LaneCount => Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;

    /// <summary>Runs <see cref="Chains"/> FMA chains for <see cref="Trips"/> trips on each of <see cref="Threads"/> threads.</summary>
    [Benchmark]
    public float Peak()
    {
        var others = new Task<float>[Threads - 1];
        for (int t = 0; t < others.Length; t++)
        {
            others[t] = Task.Run(RunChains);
        }

        float sum = RunChains();
        foreach (var other in others)
        {
            sum += other.Result;
        }

        return sum;
    }

    private static float RunChains() => Vector512.IsHardwareAccelerated
        ? FmaChains<SimdConvLanes512, Vector512<float>>(Trips)
        : FmaChains<SimdConvLanes256, Vector256<float>>(Trips);

    /// <summary>a ← a·m + c on 24 accumulators; m slightly below 1 keeps them finite. Returns a checksum.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains<TL, TV>(int trips)
        where TL : struct, ISimdConvLanes<TV>
        where TV : struct
    {
        TV m = TL.Broadcast(0.999999f), c = TL.Broadcast(1e-6f);
        TV a00 = TL.Zero, a01 = c, a02 = TL.Add(c, c), a03 = TL.Add(a02, c), a04 = TL.Add(a03, c), a05 = TL.Add(a04, c);
        TV a06 = TL.Add(a05, c), a07 = TL.Add(a06, c), a08 = TL.Add(a07, c), a09 = TL.Add(a08, c), a10 = TL.Add(a09, c), a11 = TL.Add(a10, c);
        TV a12 = TL.Add(a11, c), a13 = TL.Add(a12, c), a14 = TL.Add(a13, c), a15 = TL.Add(a14, c), a16 = TL.Add(a15, c), a17 = TL.Add(a16, c);
        TV a18 = TL.Add(a17, c), a19 = TL.Add(a18, c), a20 = TL.Add(a19, c), a21 = TL.Add(a20, c), a22 = TL.Add(a21, c), a23 = TL.Add(a22, c);
        for (int i = 0; i < trips; i++)
        {
            a00 = TL.MultiplyAdd(a00, m, c);
            a01 = TL.MultiplyAdd(a01, m, c);
            a02 = TL.MultiplyAdd(a02, m, c);
            a03 = TL.MultiplyAdd(a03, m, c);
            a04 = TL.MultiplyAdd(a04, m, c);
            a05 = TL.MultiplyAdd(a05, m, c);
            a06 = TL.MultiplyAdd(a06, m, c);
            a07 = TL.MultiplyAdd(a07, m, c);
            a08 = TL.MultiplyAdd(a08, m, c);
            a09 = TL.MultiplyAdd(a09, m, c);
            a10 = TL.MultiplyAdd(a10, m, c);
            a11 = TL.MultiplyAdd(a11, m, c);
            a12 = TL.MultiplyAdd(a12, m, c);
            a13 = TL.MultiplyAdd(a13, m, c);
            a14 = TL.MultiplyAdd(a14, m, c);
            a15 = TL.MultiplyAdd(a15, m, c);
            a16 = TL.MultiplyAdd(a16, m, c);
            a17 = TL.MultiplyAdd(a17, m, c);
            a18 = TL.MultiplyAdd(a18, m, c);
            a19 = TL.MultiplyAdd(a19, m, c);
            a20 = TL.MultiplyAdd(a20, m, c);
            a21 = TL.MultiplyAdd(a21, m, c);
            a22 = TL.MultiplyAdd(a22, m, c);
            a23 = TL.MultiplyAdd(a23, m, c);
        }

        TV s0 = TL.Add(TL.Add(TL.Add(a00, a01), TL.Add(a02, a03)), TL.Add(TL.Add(a04, a05), TL.Add(a06, a07)));
        TV s1 = TL.Add(TL.Add(TL.Add(a08, a09), TL.Add(a10, a11)), TL.Add(TL.Add(a12, a13), TL.Add(a14, a15)));
        TV s2 = TL.Add(TL.Add(TL.Add(a16, a17), TL.Add(a18, a19)), TL.Add(TL.Add(a20, a21), TL.Add(a22, a23)));
        return TL.Sum4(TL.Add(TL.Add(s0, s1), s2), TL.Zero, TL.Zero, TL.Zero).ToScalar();
    }
}
