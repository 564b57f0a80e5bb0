namespace JointDiffusion.Gpu.Tests.Reference;

/// <summary>Central-difference gradients in double precision, the oracle for the reference backward passes.</summary>
public static class FiniteDifferences
{
    /// <summary>
    /// ∂L/∂p_i ≈ (L(p + h·e_i) − L(p − h·e_i)) / 2h for every i, with L(p) = Σ dy·f(p). The error is
    /// O(h²·|f'''|) from truncation plus O(ε_double·|L|/h) from rounding; both are ~1e-10 for h = 1e-6 and O(1) data.
    /// </summary>
    /// <param name="f">The forward map; called with <paramref name="p"/> perturbed in place (restored afterwards).</param>
    /// <param name="p">The point at which to differentiate.</param>
    /// <param name="dy">The output cotangent that makes the loss scalar.</param>
    /// <param name="h">The step.</param>
    public static double[] Gradient(Func<double[], double[]> f, double[] p, double[] dy, double h = 1e-6)
    {
        double Loss()
        {
            var y = f(p);
            double l = 0;
            for (int i = 0; i < y.Length; i++)
            {
                l += dy[i] * y[i];
            }

            return l;
        }

        var g = new double[p.Length];
        for (int i = 0; i < p.Length; i++)
        {
            double saved = p[i];
            p[i] = saved + h;
            double plus = Loss();
            p[i] = saved - h;
            double minus = Loss();
            p[i] = saved;
            g[i] = (plus - minus) / (2 * h);
        }

        return g;
    }
}
