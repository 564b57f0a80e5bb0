using ILGPU;

namespace JointDiffusion.Kernels;

/// <summary>Elementwise kernels, one thread per output element; every index is checked against the output length.</summary>
public static class ElementwiseKernels
{
    /// <summary>y[i] = value.</summary>
    public static void Fill(Index1D index, ArrayView<float> y, float value)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] = value;
        }
    }

    /// <summary>y[i] = x[i].</summary>
    public static void Copy(Index1D index, ArrayView<float> x, ArrayView<float> y)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] = x[i];
        }
    }

    /// <summary>y[i] = a[i] + b[i] (y may alias a or b: each thread reads its element before writing it).</summary>
    public static void Add(Index1D index, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] = a[i] + b[i];
        }
    }

    /// <summary>y[i] = scale·x[i] + shift.</summary>
    public static void Affine(Index1D index, ArrayView<float> x, float scale, float shift, ArrayView<float> y)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] = x[i] * scale + shift;
        }
    }

    /// <summary>y[i] = 1/x[i] where x[i] &gt; threshold, else 0.</summary>
    public static void ReciprocalOrZero(Index1D index, ArrayView<float> x, ArrayView<float> y, float threshold)
    {
        int i = index;
        if (i < y.IntLength)
        {
            float v = x[i];
            y[i] = v > threshold ? 1f / v : 0f;
        }
    }

    /// <summary>y[i] += alpha·x[i].</summary>
    public static void Axpy(Index1D index, float alpha, ArrayView<float> x, ArrayView<float> y)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] += alpha * x[i];
        }
    }

    /// <summary>y[i] = s[n]·x[i] where n = i / perSample is the batch item of element i.</summary>
    public static void ScalePerSample(Index1D index, ArrayView<float> x, ArrayView<float> s, ArrayView<float> y, int perSample)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] = x[i] * s[i / perSample];
        }
    }

    /// <summary>y[i] += alpha·s[n]·x[i] where n = i / perSample is the batch item of element i.</summary>
    public static void AxpyPerSample(Index1D index, float alpha, ArrayView<float> s, ArrayView<float> x, ArrayView<float> y, int perSample)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] += alpha * s[i / perSample] * x[i];
        }
    }

    /// <summary>
    /// y[i] = x[i]·w[i mod P], P = w's length = the per-sample length of x: a weight shared by every batch item
    /// (y may alias x: each thread reads its element before writing it).
    /// </summary>
    public static void MultiplyBroadcast(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] = x[i] * w[i % w.IntLength];
        }
    }

    /// <summary>y[i] = x[i] + alpha·w[i mod P], P = w's length = the per-sample length of x (y may alias x).</summary>
    public static void AddBroadcast(Index1D index, ArrayView<float> x, float alpha, ArrayView<float> w, ArrayView<float> y)
    {
        int i = index;
        if (i < y.IntLength)
        {
            y[i] = x[i] + alpha * w[i % w.IntLength];
        }
    }
}
