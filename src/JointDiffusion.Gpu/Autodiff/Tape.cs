using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Autodiff;

/// <summary>
/// Minimal reverse-mode autodiff: each op runs its forward on the backend and, when any input needs a
/// gradient, records what its backward needs. <see cref="Backward"/> replays the records in reverse.
/// Gradients are only computed for variables that need them, so a network whose parameters were added with
/// <see cref="Constant"/> (no gradient) yields Jᵀv with respect to its input without running a single
/// weight-gradient kernel, while <see cref="Parameter"/> with a gradient tensor gives full training gradients.
/// Disposing the tape returns every intermediate tensor to the backend's pool.
/// </summary>
/// <remarks>
/// A record is a small struct (the op, its variables, and its one or two settings) rather than a closure, and
/// <see cref="Reset"/> keeps the tape's lists, variables and tensor objects for the next recording, so a loop
/// that records the same network every step (a sampler) allocates no managed memory after its first step.
/// </remarks>
public sealed class Tape : IDisposable
{
    private readonly List<OpRecord> _ops = [];
    private readonly List<Tensor> _owned = [];
    private readonly List<Tensor> _spareTensors = [];
    private readonly List<Variable> _variables = [];
    private readonly List<ConvWorkspace> _workspaces = [];
    private int _workspacesInUse;
    private int _variablesInUse;
    private bool _backwardDone;

    /// <summary>The variable <see cref="Backward"/> started from: its gradient stays readable afterwards.</summary>
    private Variable? _root;
    private bool _disposed;

    /// <summary>Creates an empty tape on <paramref name="backend"/>.</summary>
    public Tape(ComputeBackend backend) => Backend = backend;

    /// <summary>The backend every op runs on.</summary>
    public ComputeBackend Backend { get; }

    /// <summary>Number of recorded backward steps.</summary>
    public int RecordedOps => _ops.Count;

    /// <summary>Floating-point operations of the convolutions run forward on this tape (2 per multiply-add).</summary>
    public long ConvolutionFlops { get; private set; }

    /// <summary>
    /// Empties the tape for a new recording: every tensor it allocated goes back to the pool, as on
    /// <see cref="Dispose"/>, but the tape stays usable and reuses its variable and tensor objects, so recording
    /// the same ops again allocates nothing. Variables and tensors handed out before are invalid afterwards.
    /// </summary>
    public void Reset()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var t in _owned)
        {
            t.Dispose();
            _spareTensors.Add(t);
        }

        _owned.Clear();
        _ops.Clear();
        ClearWorkspaces();
        _variablesInUse = 0;
        _backwardDone = false;
        _root = null;
        ConvolutionFlops = 0;
    }

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

        return NewVariable(value, requiresGrad, grad);
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
        // Only the weight gradient reuses what a workspace keeps (the packed x and dy).
        var workspace = w.RequiresGrad ? NewWorkspace() : null;
        Backend.Conv2dForward(x.Value, w.Value, b?.Value, y, spec, workspace);
        ConvolutionFlops += 2L * y.Length * ws.C * ws.H * ws.W;
        return Record(y, new OpRecord(OpKind.Conv2d, x, w, b) { Spec = spec, Workspace = workspace });
    }

    private void Conv2dBackward(in OpRecord op, Tensor gy)
    {
        var (x, w, b) = (op.A, op.B!, op.C);
        if (x.RequiresGrad)
        {
            bool acc = PrepareGrad(x);
            Backend.Conv2dBackwardData(gy, w.Value, x.Grad!, op.Spec, acc, op.Workspace);
        }

        bool needW = w.RequiresGrad, needB = b is { RequiresGrad: true };
        if (needW || needB)
        {
            bool acc = PrepareGrads(needW ? w : null, needB ? b : null, null, null);
            Backend.Conv2dBackwardWeight(x.Value, gy, needW ? w.Grad : null, needB ? b!.Grad : null, op.Spec, acc, op.Workspace);
        }

        op.Workspace?.Clear(); // its buffers go back to the pool for the rest of the backward pass
    }

    /// <summary>A cleared workspace from this tape's spares, or a new one (null where the backend keeps nothing).</summary>
    private ConvWorkspace? NewWorkspace()
    {
        if (_workspacesInUse == _workspaces.Count)
        {
            var created = Backend.CreateConvWorkspace();
            if (created is null)
            {
                return null;
            }

            _workspaces.Add(created);
        }

        return _workspaces[_workspacesInUse++];
    }

    /// <summary>Clears every workspace handed out since the last reset and makes them spares again.</summary>
    private void ClearWorkspaces()
    {
        for (int i = 0; i < _workspacesInUse; i++)
        {
            _workspaces[i].Clear();
        }

        _workspacesInUse = 0;
    }

    /// <summary>InstanceNorm++ (NCSNv2): see <see cref="ComputeBackend.InstanceNorm2dPlus"/>.</summary>
    public Variable InstanceNorm2dPlus(Variable x, Variable alpha, Variable gamma, Variable beta) =>
        InstanceNorm(x, alpha, gamma, beta, elu: false);

    /// <summary>InstanceNorm++, followed by ELU when <paramref name="elu"/> (one forward pass, one op on the tape).</summary>
    private Variable InstanceNorm(Variable x, Variable alpha, Variable gamma, Variable beta, bool elu)
    {
        var xs = x.Shape;
        if (xs.Rank != 4)
        {
            throw new ArgumentException($"InstanceNorm2dPlus needs NCHW input; got {xs}.", nameof(x));
        }

        var y = NewOutput(xs);
        var stats = NewOutput(new Shape(xs.N, InstanceNormStats.PerSample(xs.C)));
        Backend.InstanceNorm2dPlus(x.Value, alpha.Value, gamma.Value, beta.Value, y, stats, elu);
        var kind = elu ? OpKind.InstanceNorm2dPlusElu : OpKind.InstanceNorm2dPlus;
        return Record(y, new OpRecord(kind, x, alpha, gamma, beta) { Saved = stats });
    }

    private void InstanceNorm2dPlusBackward(in OpRecord op, Tensor gy)
    {
        var (x, alpha, gamma, beta) = (op.A, op.B!, op.C!, op.D!);
        bool acc = PrepareGrads(Needing(x), Needing(alpha), Needing(gamma), Needing(beta));
        Backend.InstanceNorm2dPlusBackward(x.Value, gy, alpha.Value, gamma.Value, op.Saved!,
            x.RequiresGrad ? x.Grad : null,
            alpha.RequiresGrad ? alpha.Grad : null,
            gamma.RequiresGrad ? gamma.Grad : null,
            beta.RequiresGrad ? beta.Grad : null,
            acc);
    }

    /// <summary>
    /// y = ELU(InstanceNorm++(x)) in one forward pass over the tensor (NCSNv2 follows every norm by an ELU); the
    /// backward takes the ELU's derivative from y, then runs the InstanceNorm++ backward.
    /// </summary>
    public Variable InstanceNorm2dPlusElu(Variable x, Variable alpha, Variable gamma, Variable beta) =>
        InstanceNorm(x, alpha, gamma, beta, elu: true);

    private void InstanceNorm2dPlusEluBackward(in OpRecord op, Tensor gy)
    {
        // The norm's output gradient lives only between the two backward kernels: a scratch tensor, back in the pool at once.
        var g = RentScratch(gy.Shape);
        try
        {
            Backend.EluBackwardFromOutput(op.Output.Value, gy, g, false);
            InstanceNorm2dPlusBackward(op, g);
        }
        finally
        {
            ReturnScratch(g);
        }
    }

    /// <summary>y = ELU(x).</summary>
    public Variable Elu(Variable x)
    {
        var y = NewOutput(x.Shape);
        Backend.Elu(x.Value, y);
        return Record(y, new OpRecord(OpKind.Elu, x));
    }

    private void EluBackward(in OpRecord op, Tensor gy)
    {
        // ELU'(x) from the output (y + 1 where y ≤ 0): no exp, and x need not stay readable.
        bool acc = PrepareGrad(op.A);
        Backend.EluBackwardFromOutput(op.Output.Value, gy, op.A.Grad!, acc);
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
        return Record(y, new OpRecord(OpKind.MeanPool2x2, x));
    }

    private void MeanPool2x2Backward(in OpRecord op, Tensor gy)
    {
        bool acc = PrepareGrad(op.A);
        Backend.MeanPool2x2Backward(gy, op.A.Grad!, acc);
    }

    /// <summary>Max pool, stride 1, padding kernel/2.</summary>
    public Variable MaxPool2d(Variable x, int kernel)
    {
        var y = NewOutput(x.Shape);
        Backend.MaxPool2d(x.Value, y, kernel);
        return Record(y, new OpRecord(OpKind.MaxPool2d, x) { Kernel = kernel });
    }

    private void MaxPool2dBackward(in OpRecord op, Tensor gy)
    {
        bool acc = PrepareGrad(op.A);
        Backend.MaxPool2dBackward(op.A.Value, gy, op.A.Grad!, op.Kernel, acc);
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
        return Record(y, new OpRecord(OpKind.BilinearResize, x));
    }

    private void BilinearResizeBackward(in OpRecord op, Tensor gy)
    {
        bool acc = PrepareGrad(op.A);
        Backend.BilinearResizeBackward(gy, op.A.Grad!, acc);
    }

    /// <summary>y = a + b.</summary>
    public Variable Add(Variable a, Variable b)
    {
        var y = NewOutput(a.Shape);
        Backend.Add(a.Value, b.Value, y);
        return Record(y, new OpRecord(OpKind.Add, a, b));
    }

    private void AddBackward(in OpRecord op, Tensor gy)
    {
        var (a, node) = (op.A, op.Output);
        if (a.RequiresGrad && a.Grad is null && !a.GradWritten && ReferenceEquals(node.Grad, gy) && !ReferenceEquals(node, _root))
        {
            // a's first contribution is gy itself, and gy (this op's output gradient) is dropped once this op has
            // run: a takes the buffer over instead of a copy. b still reads gy (a's gradient now, unchanged until later
            // ops add to it); with b = a the Axpy below doubles it, as it should.
            a.Grad = gy;
            a.GradWritten = true;
            node.Grad = null;
        }
        else
        {
            AddGradient(a, gy);
        }

        AddGradient(op.B!, gy);
    }

    /// <summary>v.Grad (+)= gy when v needs a gradient.</summary>
    private void AddGradient(Variable v, Tensor gy)
    {
        if (!v.RequiresGrad)
        {
            return;
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

    /// <summary>y = scale·x + shift.</summary>
    public Variable Affine(Variable x, float scale, float shift)
    {
        var y = NewOutput(x.Shape);
        Backend.Affine(x.Value, scale, shift, y);
        return Record(y, new OpRecord(OpKind.Affine, x) { Scale = scale });
    }

    private void AffineBackward(in OpRecord op, Tensor gy)
    {
        if (PrepareGrad(op.A))
        {
            Backend.Axpy(op.Scale, gy, op.A.Grad!);
        }
        else
        {
            Backend.Scale(gy, op.Scale, op.A.Grad!);
        }
    }

    /// <summary>y[n] = s[n]·x[n] with a constant per-sample factor s [N] (e.g. 1/σ_n for a score).</summary>
    public Variable ScalePerSample(Variable x, Tensor s)
    {
        var y = NewOutput(x.Shape);
        Backend.ScalePerSample(x.Value, s, y);
        return Record(y, new OpRecord(OpKind.ScalePerSample, x) { Saved = s });
    }

    private void ScalePerSampleBackward(in OpRecord op, Tensor gy)
    {
        if (PrepareGrad(op.A))
        {
            Backend.AxpyPerSample(1f, op.Saved!, gy, op.A.Grad!);
        }
        else
        {
            Backend.ScalePerSample(gy, op.Saved!, op.A.Grad!);
        }
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
        _root = output;
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
            var op = _ops[i];
            var node = op.Output;
            if (!node.GradWritten)
            {
                continue; // no gradient reached this op
            }

            RunBackward(op, node.Grad!);
            if (!ReferenceEquals(node, output))
            {
                // An interior gradient is complete once its op has run: give the memory back early (unless an input
                // took the buffer over).
                node.Grad?.Dispose();
                node.Grad = null;
                node.GradWritten = false;
            }
        }
    }

    private void RunBackward(in OpRecord op, Tensor gy)
    {
        switch (op.Kind)
        {
            case OpKind.Conv2d:
                Conv2dBackward(op, gy);
                break;
            case OpKind.InstanceNorm2dPlus:
                InstanceNorm2dPlusBackward(op, gy);
                break;
            case OpKind.InstanceNorm2dPlusElu:
                InstanceNorm2dPlusEluBackward(op, gy);
                break;
            case OpKind.Elu:
                EluBackward(op, gy);
                break;
            case OpKind.MeanPool2x2:
                MeanPool2x2Backward(op, gy);
                break;
            case OpKind.MaxPool2d:
                MaxPool2dBackward(op, gy);
                break;
            case OpKind.BilinearResize:
                BilinearResizeBackward(op, gy);
                break;
            case OpKind.Add:
                AddBackward(op, gy);
                break;
            case OpKind.Affine:
                AffineBackward(op, gy);
                break;
            default:
                ScalePerSampleBackward(op, gy);
                break;
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
        ClearWorkspaces();
        _workspaces.Clear();
        _spareTensors.Clear();
        _variables.Clear();
        _root = null;
    }

    // ---------------------------------------------------------------- plumbing

    /// <summary>The ops with a backward; the switch in <see cref="RunBackward"/> dispatches on it.</summary>
    private enum OpKind
    {
        Conv2d,
        InstanceNorm2dPlus,
        InstanceNorm2dPlusElu,
        Elu,
        MeanPool2x2,
        MaxPool2d,
        BilinearResize,
        Add,
        Affine,
        ScalePerSample,
    }

    /// <summary>
    /// What one op's backward needs: its output, up to four inputs (A first), a saved tensor (InstanceNorm++
    /// statistics, the per-sample factor) and its setting (conv geometry, pool kernel, affine scale).
    /// </summary>
    private readonly record struct OpRecord(OpKind Kind, Variable A, Variable? B = null, Variable? C = null, Variable? D = null)
    {
        public Variable Output { get; init; } = null!;

        public Tensor? Saved { get; init; }

        public Conv2dSpec Spec { get; init; }

        /// <summary>A convolution's workspace (see <see cref="ConvWorkspace"/>), or null.</summary>
        public ConvWorkspace? Workspace { get; init; }

        public int Kernel { get; init; }

        public float Scale { get; init; }
    }

    /// <summary>A tensor the tape owns until <see cref="Reset"/> or <see cref="Dispose"/>.</summary>
    private Tensor NewOutput(Shape shape)
    {
        var t = RentScratch(shape);
        _owned.Add(t);
        return t;
    }

    /// <summary>
    /// A tensor the tape does not own: the caller gives it back with <see cref="ReturnScratch"/>. It reuses a spare tensor
    /// object, so that a tape recording the same ops every step allocates nothing.
    /// </summary>
    private Tensor RentScratch(Shape shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_spareTensors.Count == 0)
        {
            return Backend.Allocate(shape);
        }

        var t = _spareTensors[^1];
        _spareTensors.RemoveAt(_spareTensors.Count - 1);
        var pool = Backend.RentingPool;
        t.Reuse(shape, pool.Rent(shape.Length), pool);
        return t;
    }

    /// <summary>Returns a <see cref="RentScratch"/> tensor's storage to the pool and keeps the object for reuse.</summary>
    private void ReturnScratch(Tensor t)
    {
        t.Dispose();
        _spareTensors.Add(t);
    }

    private Variable NewVariable(Tensor value, bool requiresGrad, Tensor? grad)
    {
        if (_variablesInUse == _variables.Count)
        {
            _variables.Add(new Variable(value, requiresGrad, grad));
        }

        var v = _variables[_variablesInUse++];
        v.Reuse(value, requiresGrad, grad);
        return v;
    }

    private Variable Record(Tensor y, OpRecord op)
    {
        bool requiresGrad = op.A.RequiresGrad || op.B is { RequiresGrad: true } || op.C is { RequiresGrad: true } || op.D is { RequiresGrad: true };
        var output = NewVariable(y, requiresGrad, null);
        if (requiresGrad)
        {
            _ops.Add(op with { Output = output });
        }

        return output;
    }

    /// <summary><paramref name="v"/> when it needs a gradient, else null.</summary>
    private static Variable? Needing(Variable v) => v.RequiresGrad ? v : null;

    /// <summary>
    /// Makes sure <paramref name="v"/> has a gradient buffer and marks it written; returns whether the next
    /// write must accumulate (true) or may overwrite (false, the first contribution).
    /// </summary>
    private bool PrepareGrad(Variable v)
    {
        v.Grad ??= NewOutput(v.Shape);
        bool accumulate = v.GradWritten;
        v.GradWritten = true;
        return accumulate;
    }

    /// <summary>
    /// Like <see cref="PrepareGrad"/> for the outputs (the non-null ones of a … d) of one backward kernel that
    /// takes a single accumulate flag: when they disagree, the fresh ones are zeroed so that all accumulate.
    /// </summary>
    private bool PrepareGrads(Variable? a, Variable? b, Variable? c, Variable? d)
    {
        bool anyFresh = IsFresh(a) || IsFresh(b) || IsFresh(c) || IsFresh(d);
        bool anyWritten = a is { GradWritten: true } || b is { GradWritten: true } || c is { GradWritten: true } || d is { GradWritten: true };
        PrepareOne(a, anyWritten);
        PrepareOne(b, anyWritten);
        PrepareOne(c, anyWritten);
        PrepareOne(d, anyWritten);
        return anyWritten || !anyFresh;
    }

    private static bool IsFresh(Variable? v) => v is not null && (v.Grad is null || !v.GradWritten);

    private void PrepareOne(Variable? v, bool zeroIfFresh)
    {
        if (v is null)
        {
            return;
        }

        bool fresh = IsFresh(v);
        PrepareGrad(v);
        if (fresh && zeroIfFresh)
        {
            Backend.Fill(v.Grad!, 0f);
        }
    }
}
