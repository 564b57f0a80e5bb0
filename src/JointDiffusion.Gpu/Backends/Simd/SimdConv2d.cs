namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// Register-blocked, vectorised, multithreaded stride-1 conv2d for the SIMD backend. Arrays are NCHW
/// row-major: x [n,cin,h,w], weight [cout,cin,k,k], y [n,cout,ho,wo] with ho = h + 2·pad − dil·(k−1).
/// </summary>
internal static class SimdConv2d
{
    /// <summary>y = conv(x, weight) + bias.</summary>
    public static void Forward(float[] x, float[] weight, float[]? bias, float[] y,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil) => throw new NotImplementedException();

    /// <summary>dx (+)= convᵀ(dy, weight).</summary>
    public static void BackwardData(float[] dy, float[] weight, float[] dx,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, bool accumulate) => throw new NotImplementedException();

    /// <summary>dweight (+)= Σ dy ⊗ patches(x); dbias (+)= Σ dy. Either may be null.</summary>
    public static void BackwardWeight(float[] x, float[] dy, float[]? dweight, float[]? dbias,
        int n, int cin, int h, int w, int cout, int k, int pad, int dil, bool accumulate) => throw new NotImplementedException();
}
