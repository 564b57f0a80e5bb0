using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Autodiff;

/// <summary>
/// Minimal reverse-mode autodiff: each op runs its forward on the backend and, when any input needs a
/// gradient, records a closure that runs its backward. <see cref="Backward"/> replays the closures in
/// reverse. Gradients are only computed for variables that need them, so a network whose parameters were
/// added with <see cref="Constant"/> (no gradient) yields Jᵀv with respect to its input without running a
/// single weight-gradient kernel, while <see cref="Parameter"/> with a gradient tensor gives full training
/// gradients. Disposing the tape returns every intermediate tensor to the backend's pool.
/// </summary>
public sealed class Tape : IDisposable
{
    private readonly List<(Variable Output, Action<Tensor> Backward)> _ops = [];
    private readonly List<Tensor> _owned = [];
    private bool _backwardDone;
    private bool _disposed;

    /// <summary>Creates an empty tape on <paramref name="backend"/>.</summary>
    public Tape(ComputeBackend backend) => Backend = backend;

    /// <summary>The backend every op runs on.</summary>
    public ComputeBackend Backend { get; }

    /// <summary>Number of recorded backward closures.</summary>
    public int RecordedOps => _ops.Count;

    /// <summary>Floating-point operations of the convolutions run forward on this tape (2 per multiply-add).</summary>
    public long ConvolutionFlops { get; private set; }

    // ---------------------------------------------------------------- leaves

    /// <summary>An input leaf. With <paramref name="requiresGrad"/>, its gradient is in <see cref="Variable.Grad"/> after <see cref="Backward"/> (owned by the tape).</summary>
    public Variable Input(Tensor value, bool requiresGrad) => Leaf(value, requiresGrad, null);

    /// <summary>A leaf that never receives a gradient (e.g. weights while sampling).</summary>
    public Variable Constant(Tensor value) => Leaf(value, false, null);

    /// <summary>A trainable parameter whose gradient is accumulated into the caller's <paramref name="grad"/> (zero it first).</summary>
    public Variable Parameter(Tensor value, Tensor grad)
    {
        if (grad.Shape != value.Shape)
        {
            throw new ArgumentException($"Gradient shape {grad.Shape} does not match parameter shape {value.Shape}.", nameof(grad));
        }

        return Leaf(value, true, grad);
    }

    private Variable Leaf(Tensor value, bool requiresGrad, Tensor? grad)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!ReferenceEquals(value.Backend, Backend))
        {
            throw new ArgumentException($"Tensor {value} is not on the tape's backend '{Backend.Name}'.", nameof(value));
        }

        return new Variable(value, requiresGrad, grad) { GradWritten = grad is not null };
    }

    // ---------------------------------------------------------------- ops

    /// <summary>y = conv2d(x, w) + b (stride 1).</summary>
    public Variable Conv2d(Variable x, Variable w, Variable? b, Conv2dSpec spec)
    {
        var xs = x.Shape;
        var ws = w.Shape;
        if (xs.Rank != 4 || ws.Rank != 4)
        {
            throw new ArgumentException($"Conv2d needs NCHW input and [Cout,Cin,K,K] weight; got {xs} and {ws}.");
        }

        int ho = spec.OutputSize(xs.H, ws.H), wo = spec.OutputSize(xs.W, ws.W);
        if (ho < 1 || wo < 1)
        {
            throw new ArgumentException($"Conv2d input {xs} is too small for kernel {ws.H} with {spec}.", nameof(x));
        }

        var y = NewOutput(Shape.Nchw(xs.N, ws.N, ho, wo));
        Backend.Conv2dForward(x.Value, w.Value, b?.Value, y, spec);
        ConvolutionFlops += 2L * y.Length * ws.C * ws.H * ws.W;
        return Record(y, [x, w, b], gy =>
        {
            if (x.RequiresGrad)
            {
                bool acc = PrepareGrad(x);
                Backend.Conv2dBackwardData(gy, w.Value, x.Grad!, spec, acc);
            }

            bool needW = w.RequiresGrad, needB = b is { RequiresGrad: true };
            if (needW || needB)
            {
                var targets = new List<Variable>();
                if (needW)
                {
                    targets.Add(w);
                }

                if (needB)
                {
                    targets.Add(b!);
                }

                bool acc = PrepareGrads(targets);
                Backend.Conv2dBackwardWeight(x.Value, gy, needW ? w.Grad : null, needB ? b!.Grad : null, spec, acc);
            }
        });
    }

    /// <summary>InstanceNorm++ (NCSNv2): see <see cref="ComputeBackend.InstanceNorm2dPlus"/>.</summary>
    public Variable InstanceNorm2dPlus(Variable x, Variable alpha, Variable gamma, Variable beta)
    {
        var xs = x.Shape;
        if (xs.Rank != 4)
        {
            throw new ArgumentException($"InstanceNorm2dPlus needs NCHW input; got {xs}.", nameof(x));
        }

        var y = NewOutput(xs);
        var stats = Own(Backend.Allocate(new Shape(xs.N, InstanceNormStats.PerSample(xs.C))));
        Backend.InstanceNorm2dPlus(x.Value, alpha.Value, gamma.Value, beta.Value, y, stats);
        return Record(y, [x, alpha, gamma, beta], gy =>
        {
            var targets = new List<Variable>(4);
            foreach (var v in new[] { x, alpha, gamma, beta })
            {
                if (v.RequiresGrad)
                {
                    targets.Add(v);
                }
            }

            bool acc = PrepareGrads(targets);
            Backend.InstanceNorm2dPlusBackward(x.Value, gy, alpha.Value, gamma.Value, stats,
                x.RequiresGrad ? x.Grad : null,
                alpha.RequiresGrad ? alpha.Grad : null,
                gamma.RequiresGrad ? gamma.Grad : null,
                beta.RequiresGrad ? beta.Grad : null,
                acc);
        });
    }

    /// <summary>y = ELU(x).</summary>
    public Variable Elu(Variable x)
    {
        var y = NewOutput(x.Shape);
        Backend.Elu(x.Value, y);
        return Record(y, [x], gy =>
        {
            bool acc = PrepareGrad(x);
            Backend.EluBackward(x.Value, gy, x.Grad!, acc);
        });
    }

    /// <summary>2×2 mean pool.</summary>
    public Variable MeanPool2x2(Variable x)
    {
        var xs = x.Shape;
        if (xs.Rank != 4 || xs.H % 2 != 0 || xs.W % 2 != 0)
        {
            throw new ArgumentException($"2x2 mean pooling needs NCHW input with even height and width; got {xs}.", nameof(x));
        }

        var y = NewOutput(Shape.Nchw(xs.N, xs.C, xs.H / 2, xs.W / 2));
        Backend.MeanPool2x2(x.Value, y);
        return Record(y, [x], gy =>
        {
            bool acc = PrepareGrad(x);
            Backend.MeanPool2x2Backward(gy, x.Grad!, acc);
        });
    }

    /// <summary>Max pool, stride 1, padding kernel/2.</summary>
    public Variable MaxPool2d(Variable x, int kernel)
    {
        var y = NewOutput(x.Shape);
        Backend.MaxPool2d(x.Value, y, kernel);
        return Record(y, [x], gy =>
        {
            bool acc = PrepareGrad(x);
            Backend.MaxPool2dBackward(x.Value, gy, x.Grad!, kernel, acc);
        });
    }

    /// <summary>Bilinear resize (align_corners = true) to <paramref name="height"/>×<paramref name="width"/>.</summary>
    public Variable BilinearResize(Variable x, int height, int width)
    {
        var xs = x.Shape;
        if (xs.Rank != 4)
        {
            throw new ArgumentException($"Bilinear resize needs NCHW input; got {xs}.", nameof(x));
        }

        var y = NewOutput(Shape.Nchw(xs.N, xs.C, height, width));
        Backend.BilinearResize(x.Value, y);
        return Record(y, [x], gy =>
        {
            bool acc = PrepareGrad(x);
            Backend.BilinearResizeBackward(gy, x.Grad!, acc);
        });
    }

    /// <summary>y = a + b.</summary>
    public Variable Add(Variable a, Variable b)
    {
        var y = NewOutput(a.Shape);
        Backend.Add(a.Value, b.Value, y);
        return Record(y, [a, b], gy =>
        {
            foreach (var v in new[] { a, b })
            {
                if (!v.RequiresGrad)
                {
                    continue;
                }

                if (PrepareGrad(v))
                {
                    Backend.Axpy(1f, gy, v.Grad!);
                }
                else
                {
                    Backend.Copy(gy, v.Grad!);
                }
            }
        });
    }

    /// <summary>y = scale·x + shift.</summary>
    public Variable Affine(Variable x, float scale, float shift)
    {
        var y = NewOutput(x.Shape);
        Backend.Affine(x.Value, scale, shift, y);
        return Record(y, [x], gy =>
        {
            if (PrepareGrad(x))
            {
                Backend.Axpy(scale, gy, x.Grad!);
            }
            else
            {
                Backend.Scale(gy, scale, x.Grad!);
            }
        });
    }

    /// <summary>y[n] = s[n]·x[n] with a constant per-sample factor s [N] (e.g. 1/σ_n for a score).</summary>
    public Variable ScalePerSample(Variable x, Tensor s)
    {
        var y = NewOutput(x.Shape);
        Backend.ScalePerSample(x.Value, s, y);
        return Record(y, [x], gy =>
        {
            if (PrepareGrad(x))
            {
                Backend.AxpyPerSample(1f, s, gy, x.Grad!);
            }
            else
            {
                Backend.ScalePerSample(gy, s, x.Grad!);
            }
        });
    }

    // ---------------------------------------------------------------- backward

    /// <summary>
    /// Runs the backward pass from <paramref name="output"/> with upstream gradient <paramref name="seed"/>
    /// (same shape as the output): afterwards every input leaf that needs a gradient holds ∂⟨seed, output⟩/∂leaf
    /// and every parameter's gradient tensor has it added. A tape runs backward once.
    /// </summary>
    public void Backward(Variable output, Tensor seed)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_backwardDone)
        {
            throw new InvalidOperationException("This tape has already run its backward pass; record a new one.");
        }

        if (seed.Shape != output.Shape)
        {
            throw new ArgumentException($"Backward seed {seed.Shape} does not match the output {output.Shape}.", nameof(seed));
        }

        if (!output.RequiresGrad)
        {
            throw new InvalidOperationException("The output does not depend on any variable that requires a gradient.");
        }

        _backwardDone = true;
        if (PrepareGrad(output))
        {
            Backend.Axpy(1f, seed, output.Grad!);
        }
        else
        {
            Backend.Copy(seed, output.Grad!);
        }

        for (int i = _ops.Count - 1; i >= 0; i--)
        {
            var (node, backward) = _ops[i];
            if (!node.GradWritten)
            {
                continue; // no gradient reached this op
            }

            backward(node.Grad!);
            if (!ReferenceEquals(node, output))
            {
                // An interior gradient is complete once its op has run: give the memory back early.
                node.Grad!.Dispose();
                node.Grad = null;
                node.GradWritten = false;
            }
        }
    }

    /// <summary>Returns every tensor the tape allocated (op outputs, saved statistics, input gradients) to the pool.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var t in _owned)
        {
            t.Dispose();
        }

        _owned.Clear();
        _ops.Clear();
    }

    // ---------------------------------------------------------------- plumbing

    private Tensor NewOutput(Shape shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Own(Backend.Allocate(shape));
    }

    private Tensor Own(Tensor t)
    {
        _owned.Add(t);
        return t;
    }

    private Tensor Alloc(Variable v)
    {
        v.Grad = Own(Backend.Allocate(v.Shape));
        return v.Grad;
    }

    private Variable Record(Tensor y, Variable?[] inputs, Action<Tensor> backward)
    {
        bool requiresGrad = inputs.Any(v => v is { RequiresGrad: true });
        var output = new Variable(y, requiresGrad, null);
        if (requiresGrad)
        {
            _ops.Add((output, backward));
        }

        return output;
    }

    /// <summary>
    /// Makes sure <paramref name="v"/> has a gradient buffer and marks it written; returns whether the next
    /// write must accumulate (true) or may overwrite (false, the first contribution).
    /// </summary>
    private bool PrepareGrad(Variable v)
    {
        if (v.Grad is null)
        {
            Alloc(v);
        }

        bool accumulate = v.GradWritten;
        v.GradWritten = true;
        return accumulate;
    }

    /// <summary>
    /// Like <see cref="PrepareGrad"/> for several outputs of one backward kernel that takes a single
    /// accumulate flag: when they disagree, the fresh ones are zeroed so that all accumulate.
    /// </summary>
    private bool PrepareGrads(List<Variable> targets)
    {
        bool anyFresh = false, anyWritten = false;
        foreach (var v in targets)
        {
            anyFresh |= v.Grad is null || !v.GradWritten;
            anyWritten |= v.GradWritten;
        }

        foreach (var v in targets)
        {
            bool fresh = v.Grad is null || !v.GradWritten;
            PrepareGrad(v);
            if (fresh && anyWritten)
            {
                Backend.Fill(v.Grad!, 0f);
            }
        }

        return anyWritten || !anyFresh;
    }
}
