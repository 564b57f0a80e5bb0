using System.Globalization;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// The op interface every backend implements: NCHW float32 tensors, the NCSNv2 ops forward and backward,
/// elementwise ops, reductions and counter-based Gaussian noise. Public methods check shapes and throw an
/// <see cref="ArgumentException"/> that names the problem; the backend-specific <c>…Core</c> methods can
/// then index without checks.
/// </summary>
/// <remarks>
/// Ops write into caller-provided outputs (destination passing) so that a loop reusing its tensors does not
/// allocate. Backward ops take <c>accumulate</c>: <c>false</c> overwrites the gradient, <c>true</c> adds to it.
/// Ops may run asynchronously on a device; <see cref="Download"/> and <see cref="Synchronize"/> wait.
/// </remarks>
public abstract class ComputeBackend : IDisposable
{
    private TensorPool? _pool;

    /// <summary>Short name, e.g. "cpu" or "cuda".</summary>
    public abstract string Name { get; }

    /// <summary>Human-readable description of the device.</summary>
    public abstract string Description { get; }

    /// <summary>The kind of device this backend runs on.</summary>
    public abstract DeviceKind Kind { get; }

    /// <summary>The storage pool of this backend.</summary>
    public TensorPool Pool => _pool ??= new TensorPool(CreateStorage);

    /// <summary>Creates fresh device storage of <paramref name="length"/> floats (contents undefined).</summary>
    protected abstract DeviceStorage CreateStorage(int length);

    // ---------------------------------------------------------------- memory

    /// <summary>Allocates a tensor from the pool. Its contents are undefined.</summary>
    public Tensor Allocate(Shape shape)
    {
        var pool = RentingPool;
        return new(this, shape, pool.Rent(shape.Length), pool);
    }

    /// <summary>
    /// The pool new tensors rent from: <see cref="Pool"/>, or inside an item of <see cref="RunConcurrently{TWork}"/> on
    /// this backend that item's own pool.
    /// </summary>
    internal TensorPool RentingPool => ConcurrentItemPools.Current is { } item && ReferenceEquals(item.Backend, this) ? item.Tensors : Pool;

    /// <summary>Allocates a tensor from the pool, filled with zeros.</summary>
    public Tensor Zeros(Shape shape)
    {
        var t = Allocate(shape);
        Fill(t, 0f);
        return t;
    }

    /// <summary>Allocates a tensor and copies host data into it.</summary>
    public Tensor FromHost(ReadOnlySpan<float> data, Shape shape)
    {
        if (data.Length != shape.Length)
        {
            throw new ArgumentException($"Host data has {data.Length} values but shape {shape} needs {shape.Length}.", nameof(data));
        }

        var t = Allocate(shape);
        Upload(data, t);
        return t;
    }

    /// <summary>Copies host data into a tensor of the same length.</summary>
    public void Upload(ReadOnlySpan<float> source, Tensor destination)
    {
        CheckOwned(destination, nameof(destination));
        if (source.Length != destination.Length)
        {
            throw new ArgumentException($"Host data has {source.Length} values but {destination} needs {destination.Length}.", nameof(source));
        }

        UploadCore(source, destination);
    }

    /// <summary>Copies a tensor to host memory of the same length (waits for pending work).</summary>
    public void Download(Tensor source, Span<float> destination)
    {
        CheckOwned(source, nameof(source));
        if (destination.Length != source.Length)
        {
            throw new ArgumentException($"Host buffer has {destination.Length} values but {source} has {source.Length}.", nameof(destination));
        }

        DownloadCore(source, destination);
    }

    /// <summary>Waits until all queued work on the device has finished.</summary>
    public abstract void Synchronize();

    /// <summary>Copies host data into device storage.</summary>
    protected abstract void UploadCore(ReadOnlySpan<float> source, Tensor destination);

    /// <summary>Copies device storage to host memory.</summary>
    protected abstract void DownloadCore(Tensor source, Span<float> destination);

    // ---------------------------------------------------------------- convolution

    /// <summary>
    /// y = conv2d(x, w) + b, stride 1. x [N,Cin,H,W], w [Cout,Cin,K,K], b [Cout] or null,
    /// y [N,Cout,Ho,Wo] with Ho = spec.OutputSize(H, K).
    /// </summary>
    public void Conv2dForward(Tensor x, Tensor w, Tensor? b, Tensor y, Conv2dSpec spec) => Conv2dForward(x, w, b, y, spec, null);

    /// <summary>
    /// As <see cref="Conv2dForward(Tensor, Tensor, Tensor?, Tensor, Conv2dSpec)"/>, keeping in <paramref name="workspace"/>
    /// (from <see cref="CreateConvWorkspace"/>, or null) what this backend can reuse for the convolution's backward passes.
    /// </summary>
    public void Conv2dForward(Tensor x, Tensor w, Tensor? b, Tensor y, Conv2dSpec spec, ConvWorkspace? workspace)
    {
        CheckConv(x, w, b, y, spec);
        long t0 = BeginOp();
        Conv2dForwardCore(x, w, b, y, spec, workspace);
        EndConvOp("conv2d.forward", t0, x, w, spec);
    }

    /// <summary>Gradient with respect to the input: dx (+)= conv2dᵀ(dy, w). Shapes as in <see cref="Conv2dForward(Tensor, Tensor, Tensor?, Tensor, Conv2dSpec)"/>.</summary>
    public void Conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dSpec spec, bool accumulate) =>
        Conv2dBackwardData(dy, w, dx, spec, accumulate, null);

    /// <summary>
    /// As <see cref="Conv2dBackwardData(Tensor, Tensor, Tensor, Conv2dSpec, bool)"/>, with the convolution's
    /// <paramref name="workspace"/> (or null): it may keep there what the weight gradient can reuse.
    /// </summary>
    public void Conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dSpec spec, bool accumulate, ConvWorkspace? workspace)
    {
        CheckConv(dx, w, null, dy, spec);
        long t0 = BeginOp();
        Conv2dBackwardDataCore(dy, w, dx, spec, accumulate, workspace);
        EndConvOp("conv2d.backward_data", t0, dx, w, spec);
    }

    /// <summary>
    /// Gradients with respect to the weights and bias: dw (+)= Σ_{n,h,w} dy ⊗ patches(x), db (+)= Σ_{n,h,w} dy.
    /// Either output may be null to skip it.
    /// </summary>
    public void Conv2dBackwardWeight(Tensor x, Tensor dy, Tensor? dw, Tensor? db, Conv2dSpec spec, bool accumulate) =>
        Conv2dBackwardWeight(x, dy, dw, db, spec, accumulate, null);

    /// <summary>
    /// As <see cref="Conv2dBackwardWeight(Tensor, Tensor, Tensor?, Tensor?, Conv2dSpec, bool)"/>, reusing what the
    /// convolution's forward and backward-data passes kept in <paramref name="workspace"/> (or null).
    /// </summary>
    public void Conv2dBackwardWeight(Tensor x, Tensor dy, Tensor? dw, Tensor? db, Conv2dSpec spec, bool accumulate, ConvWorkspace? workspace)
    {
        if (dw is not null)
        {
            CheckConv(x, dw, db, dy, spec);
        }
        else if (db is not null)
        {
            CheckNchw(dy, nameof(dy));
            CheckOwned(db, nameof(db));
            if (db.Shape != new Shape(dy.Shape.C))
            {
                throw new ArgumentException($"Bias gradient {db.Shape} does not match the {dy.Shape.C} output channels of dy {dy.Shape}.", nameof(db));
            }
        }

        if (dw is null && db is null)
        {
            return;
        }

        long t0 = BeginOp();

        Conv2dBackwardWeightCore(x, dy, dw, db, spec, accumulate, workspace);

        if (dw is null)
        {
            EndOp("conv2d.backward_bias", t0);
        }
        else
        {
            EndConvOp("conv2d.backward_weight", t0, x, dw, spec);
        }
    }

    /// <summary>
    /// A workspace for one convolution's forward and backward calls, or null where this backend keeps nothing between
    /// them (the default). See <see cref="ConvWorkspace"/>.
    /// </summary>
    public virtual ConvWorkspace? CreateConvWorkspace() => null;

    /// <summary>Backend conv forward; shapes are checked. <paramref name="workspace"/> is null or this backend's own.</summary>
    protected abstract void Conv2dForwardCore(Tensor x, Tensor w, Tensor? b, Tensor y, Conv2dSpec spec, ConvWorkspace? workspace);

    /// <summary>Backend conv backward-data; shapes are checked. <paramref name="workspace"/> is null or this backend's own.</summary>
    protected abstract void Conv2dBackwardDataCore(Tensor dy, Tensor w, Tensor dx, Conv2dSpec spec, bool accumulate, ConvWorkspace? workspace);

    /// <summary>
    /// Backend conv backward-weight; shapes are checked, at least one output is non-null. <paramref name="workspace"/> is
    /// null or this backend's own.
    /// </summary>
    protected abstract void Conv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor? dw, Tensor? db, Conv2dSpec spec, bool accumulate,
        ConvWorkspace? workspace);

    // ---------------------------------------------------------------- InstanceNorm++

    /// <summary>
    /// InstanceNorm2dPlus (NCSNv2's unconditional "InstanceNorm++"): per sample b and channel c,
    /// y = γ_c·((x − μ_c)/√(s²_c+ε) + α_c·(μ_c − m)/√(v+ε)) + β_c, with v the unbiased variance of the channel
    /// means. x, y [N,C,H,W] (C ≥ 2); alpha, gamma, beta [C]; stats [N, 2C+2] receives what the backward needs
    /// (<see cref="InstanceNormStats"/>). With <paramref name="elu"/>, y = ELU(InstanceNorm++(x)) instead, applied in
    /// the same pass that writes y (the stats still describe the normalisation); NCSNv2 follows every norm by an ELU.
    /// </summary>
    public void InstanceNorm2dPlus(Tensor x, Tensor alpha, Tensor gamma, Tensor beta, Tensor y, Tensor stats, bool elu = false)
    {
        CheckInstanceNorm(x, alpha, gamma, beta, stats);
        CheckSame(x, y, nameof(y));
        long t0 = BeginOp();
        InstanceNorm2dPlusCore(x, alpha, gamma, beta, y, stats, elu);
        EndOp("instance_norm.forward", t0);
    }

    /// <summary>
    /// Backward of <see cref="InstanceNorm2dPlus"/> from the saved stats. dx, dalpha, dgamma, dbeta may each
    /// be null to skip them; the parameter gradients are summed over the batch.
    /// </summary>
    public void InstanceNorm2dPlusBackward(Tensor x, Tensor dy, Tensor alpha, Tensor gamma, Tensor stats,
        Tensor? dx, Tensor? dalpha, Tensor? dgamma, Tensor? dbeta, bool accumulate)
    {
        CheckInstanceNorm(x, alpha, gamma, gamma, stats);
        CheckSame(x, dy, nameof(dy));
        if (dx is not null)
        {
            CheckSame(x, dx, nameof(dx));
        }

        // Three calls, not a loop over an array of them: this runs in every sampling step, which must not allocate.
        CheckOptionalVector(dalpha, x.Shape.C, nameof(dalpha), "channels of x");
        CheckOptionalVector(dgamma, x.Shape.C, nameof(dgamma), "channels of x");
        CheckOptionalVector(dbeta, x.Shape.C, nameof(dbeta), "channels of x");

        if (dx is null && dalpha is null && dgamma is null && dbeta is null)
        {
            return;
        }

        long t0 = BeginOp();

        InstanceNorm2dPlusBackwardCore(x, dy, alpha, gamma, stats, dx, dalpha, dgamma, dbeta, accumulate);

        EndOp("instance_norm.backward", t0);
    }

    /// <summary>Checks an optional per-channel vector when it is given.</summary>
    private void CheckOptionalVector(Tensor? t, int length, string name, string what)
    {
        if (t is not null)
        {
            CheckVector(t, length, name, what);
        }
    }

    /// <summary>Backend InstanceNorm++ forward, followed by ELU when <paramref name="elu"/>; shapes are checked.</summary>
    protected abstract void InstanceNorm2dPlusCore(Tensor x, Tensor alpha, Tensor gamma, Tensor beta, Tensor y, Tensor stats, bool elu);

    /// <summary>Backend InstanceNorm++ backward; shapes are checked, at least one output is non-null.</summary>
    protected abstract void InstanceNorm2dPlusBackwardCore(Tensor x, Tensor dy, Tensor alpha, Tensor gamma, Tensor stats,
        Tensor? dx, Tensor? dalpha, Tensor? dgamma, Tensor? dbeta, bool accumulate);

    // ---------------------------------------------------------------- activations and pools

    /// <summary>y = ELU(x) = x if x &gt; 0 else exp(x) − 1. Any shape; y may be x.</summary>
    public void Elu(Tensor x, Tensor y)
    {
        CheckSame(x, y, nameof(y));
        long t0 = BeginOp();
        EluCore(x, y);
        EndOp("elu.forward", t0);
    }

    /// <summary>dx (+)= dy · ELU'(x), with ELU'(x) = 1 for x &gt; 0 else exp(x).</summary>
    public void EluBackward(Tensor x, Tensor dy, Tensor dx, bool accumulate)
    {
        CheckSame(x, dy, nameof(dy));
        CheckSame(x, dx, nameof(dx));
        long t0 = BeginOp();
        EluBackwardCore(x, dy, dx, accumulate);
        EndOp("elu.backward", t0);
    }

    /// <summary>
    /// dx (+)= dy · ELU'(x) from the ELU's output y = ELU(x) instead of x: ELU'(x) = 1 where y &gt; 0, else y + 1
    /// (= exp(x)), so the backward needs no exponential and the tape need not keep x. NaN in y gives NaN, y = +∞
    /// gives dy and y = −1 (x = −∞) gives 0, as <see cref="EluBackward"/> does from x.
    /// </summary>
    public void EluBackwardFromOutput(Tensor y, Tensor dy, Tensor dx, bool accumulate)
    {
        CheckSame(y, dy, nameof(dy));
        CheckSame(y, dx, nameof(dx));
        long t0 = BeginOp();
        EluBackwardFromOutputCore(y, dy, dx, accumulate);
        EndOp("elu.backward", t0);
    }

    /// <summary>Backend ELU.</summary>
    protected abstract void EluCore(Tensor x, Tensor y);

    /// <summary>Backend ELU backward.</summary>
    protected abstract void EluBackwardCore(Tensor x, Tensor dy, Tensor dx, bool accumulate);

    /// <summary>Backend ELU backward from the ELU's output.</summary>
    protected abstract void EluBackwardFromOutputCore(Tensor y, Tensor dy, Tensor dx, bool accumulate);

    /// <summary>2×2 mean pool: x [N,C,H,W] with even H, W; y [N,C,H/2,W/2].</summary>
    public void MeanPool2x2(Tensor x, Tensor y)
    {
        CheckMeanPool(x, y);
        long t0 = BeginOp();
        MeanPool2x2Core(x, y);
        EndOp("mean_pool.forward", t0);
    }

    /// <summary>dx (+)= dy/4 spread over each 2×2 window.</summary>
    public void MeanPool2x2Backward(Tensor dy, Tensor dx, bool accumulate)
    {
        CheckMeanPool(dx, dy);
        long t0 = BeginOp();
        MeanPool2x2BackwardCore(dy, dx, accumulate);
        EndOp("mean_pool.backward", t0);
    }

    /// <summary>Backend mean pool.</summary>
    protected abstract void MeanPool2x2Core(Tensor x, Tensor y);

    /// <summary>Backend mean pool backward.</summary>
    protected abstract void MeanPool2x2BackwardCore(Tensor dy, Tensor dx, bool accumulate);

    /// <summary>
    /// Max pool, stride 1, odd <paramref name="kernel"/>, padding kernel/2 with −∞ (output size = input size).
    /// Ties go to the first maximum in row-major window order, as in PyTorch.
    /// </summary>
    public void MaxPool2d(Tensor x, Tensor y, int kernel)
    {
        CheckMaxPool(x, y, kernel);
        long t0 = BeginOp();
        MaxPool2dCore(x, y, kernel);
        EndOp("max_pool.forward", t0);
    }

    /// <summary>dx (+)= the gradient of dy routed to each window's (first) maximum.</summary>
    public void MaxPool2dBackward(Tensor x, Tensor dy, Tensor dx, int kernel, bool accumulate)
    {
        CheckMaxPool(x, dy, kernel);
        CheckSame(x, dx, nameof(dx));
        long t0 = BeginOp();
        MaxPool2dBackwardCore(x, dy, dx, kernel, accumulate);
        EndOp("max_pool.backward", t0);
    }

    /// <summary>Backend max pool.</summary>
    protected abstract void MaxPool2dCore(Tensor x, Tensor y, int kernel);

    /// <summary>Backend max pool backward.</summary>
    protected abstract void MaxPool2dBackwardCore(Tensor x, Tensor dy, Tensor dx, int kernel, bool accumulate);

    /// <summary>
    /// Bilinear resize with align_corners = true from x [N,C,H,W] to y [N,C,H',W'] (source coordinate
    /// dst·(in−1)/(out−1); 0 when out = 1).
    /// </summary>
    public void BilinearResize(Tensor x, Tensor y)
    {
        CheckResize(x, y);
        long t0 = BeginOp();
        BilinearResizeCore(x, y);
        EndOp("bilinear.forward", t0);
    }

    /// <summary>Adjoint of <see cref="BilinearResize"/>: dx (+)= resizeᵀ(dy).</summary>
    public void BilinearResizeBackward(Tensor dy, Tensor dx, bool accumulate)
    {
        CheckResize(dx, dy);
        long t0 = BeginOp();
        BilinearResizeBackwardCore(dy, dx, accumulate);
        EndOp("bilinear.backward", t0);
    }

    /// <summary>Backend bilinear resize.</summary>
    protected abstract void BilinearResizeCore(Tensor x, Tensor y);

    /// <summary>Backend bilinear resize backward.</summary>
    protected abstract void BilinearResizeBackwardCore(Tensor dy, Tensor dx, bool accumulate);

    // ---------------------------------------------------------------- elementwise

    /// <summary>y = value everywhere.</summary>
    public void Fill(Tensor y, float value)
    {
        CheckOwned(y, nameof(y));
        long t0 = BeginOp();
        FillCore(y, value);
        EndOp("elementwise", t0);
    }

    /// <summary>y = x (same shape).</summary>
    public void Copy(Tensor x, Tensor y)
    {
        CheckSame(x, y, nameof(y));
        long t0 = BeginOp();
        CopyCore(x, y);
        EndOp("elementwise", t0);
    }

    /// <summary>y = a + b (same shapes; y may alias a or b).</summary>
    public void Add(Tensor a, Tensor b, Tensor y)
    {
        CheckSame(a, b, nameof(b));
        CheckSame(a, y, nameof(y));
        long t0 = BeginOp();
        AddCore(a, b, y);
        EndOp("elementwise", t0);
    }

    /// <summary>y = scale·x + shift (y may be x). With shift 0 this is a plain scale; the NCSNv2 input map is (2, −1).</summary>
    public void Affine(Tensor x, float scale, float shift, Tensor y)
    {
        CheckSame(x, y, nameof(y));
        long t0 = BeginOp();
        AffineCore(x, scale, shift, y);
        EndOp("elementwise", t0);
    }

    /// <summary>y = alpha·x (y may be x).</summary>
    public void Scale(Tensor x, float alpha, Tensor y) => Affine(x, alpha, 0f, y);

    /// <summary>
    /// y = 1/x where x &gt; <paramref name="threshold"/> (≥ 0), else 0 (y may be x): per-sample step lengths, or an
    /// operator's per-solve weights, on the device, so that a step needs no round trip through the host (which
    /// would stall a GPU queue).
    /// </summary>
    public void ReciprocalOrZero(Tensor x, Tensor y, float threshold = 0f)
    {
        CheckSame(x, y, nameof(y));
        if (!(threshold >= 0f))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The threshold must be a number ≥ 0.");
        }

        long t0 = BeginOp();
        ReciprocalOrZeroCore(x, y, threshold);
        EndOp("elementwise", t0);
    }

    /// <summary>y += alpha·x.</summary>
    public void Axpy(float alpha, Tensor x, Tensor y)
    {
        CheckSame(x, y, nameof(y));
        long t0 = BeginOp();
        AxpyCore(alpha, x, y);
        EndOp("elementwise", t0);
    }

    /// <summary>y[n] = s[n]·x[n] for each batch item n: x, y [N,...], s [N] (y may be x).</summary>
    public void ScalePerSample(Tensor x, Tensor s, Tensor y)
    {
        CheckSame(x, y, nameof(y));
        CheckVector(s, x.Shape.N, nameof(s), "batch items of x");
        long t0 = BeginOp();
        ScalePerSampleCore(x, s, y);
        EndOp("elementwise", t0);
    }

    /// <summary>y[n] += alpha·s[n]·x[n] for each batch item n: x, y [N,...], s [N].</summary>
    public void AxpyPerSample(float alpha, Tensor s, Tensor x, Tensor y)
    {
        CheckSame(x, y, nameof(y));
        CheckVector(s, x.Shape.N, nameof(s), "batch items of x");
        long t0 = BeginOp();
        AxpyPerSampleCore(alpha, s, x, y);
        EndOp("elementwise", t0);
    }

    /// <summary>y[b, i] = x[b, i]·w[i]: a per-element weight shared by every batch item. x, y [N, ...]; w holds x's per-sample length (any shape).</summary>
    public void MultiplyBroadcast(Tensor x, Tensor w, Tensor y)
    {
        CheckSame(x, y, nameof(y));
        CheckPerSample(w, x, nameof(w));
        long t0 = BeginOp();
        MultiplyBroadcastCore(x, w, y);
        EndOp("elementwise", t0);
    }

    /// <summary>y[b, i] = x[b, i] + alpha·w[i] (y may be x). x, y [N, ...]; w holds x's per-sample length (any shape).</summary>
    public void AddBroadcast(Tensor x, float alpha, Tensor w, Tensor y)
    {
        CheckSame(x, y, nameof(y));
        CheckPerSample(w, x, nameof(w));
        long t0 = BeginOp();
        AddBroadcastCore(x, alpha, w, y);
        EndOp("elementwise", t0);
    }

    /// <summary>
    /// Batched matrix–vector product: y[b] = A·x[b], or Aᵀ·x[b] with <paramref name="transpose"/>. A is
    /// [m, k]; x and y are [N, ...] whose per-sample lengths are k and m (m and k when transposed). y must not
    /// alias x.
    /// </summary>
    public void MatVec(Tensor matrix, Tensor x, Tensor y, bool transpose)
    {
        CheckOwned(matrix, nameof(matrix));
        CheckOwned(x, nameof(x));
        CheckOwned(y, nameof(y));
        if (matrix.Shape.Rank != 2)
        {
            throw new ArgumentException($"MatVec needs a matrix [m, k]; got {matrix.Shape}.", nameof(matrix));
        }

        int rows = matrix.Shape[0], cols = matrix.Shape[1];
        int inLength = transpose ? rows : cols, outLength = transpose ? cols : rows;
        if (x.Shape.PerSample != inLength || y.Shape.PerSample != outLength || x.Shape.N != y.Shape.N)
        {
            throw new ArgumentException(
                $"MatVec with {(transpose ? "the transpose of " : string.Empty)}A {matrix.Shape} maps {inLength} values per sample to {outLength}; " +
                $"got x {x.Shape} and y {y.Shape}.", nameof(x));
        }

        if (ReferenceEquals(x.Storage, y.Storage))
        {
            throw new ArgumentException("MatVec cannot write its result over its input.", nameof(y));
        }

        long t0 = BeginOp();
        MatVecCore(matrix, x, y, transpose);
        EndOp("matvec", t0);
    }

    /// <summary>Backend broadcast multiply.</summary>
    protected abstract void MultiplyBroadcastCore(Tensor x, Tensor w, Tensor y);

    /// <summary>Backend broadcast add.</summary>
    protected abstract void AddBroadcastCore(Tensor x, float alpha, Tensor w, Tensor y);

    /// <summary>Backend batched matrix–vector product; shapes are checked, y does not alias x.</summary>
    protected abstract void MatVecCore(Tensor matrix, Tensor x, Tensor y, bool transpose);

    /// <summary>
    /// One fused Adam step on a parameter tensor: updates the moment estimates <paramref name="m"/> and
    /// <paramref name="v"/> from <paramref name="gradient"/> and moves <paramref name="parameter"/> (all the same shape).
    /// </summary>
    public void AdamUpdate(Tensor parameter, Tensor gradient, Tensor m, Tensor v, JointDiffusion.Kernels.AdamStep step)
    {
        CheckSame(parameter, gradient, nameof(gradient));
        CheckSame(parameter, m, nameof(m));
        CheckSame(parameter, v, nameof(v));
        long t0 = BeginOp();
        AdamUpdateCore(parameter, gradient, m, v, step);
        EndOp("optimizer", t0);
    }

    /// <summary>Backend Adam step.</summary>
    protected abstract void AdamUpdateCore(Tensor parameter, Tensor gradient, Tensor m, Tensor v, JointDiffusion.Kernels.AdamStep step);

    /// <summary>Backend fill.</summary>
    protected abstract void FillCore(Tensor y, float value);

    /// <summary>Backend copy.</summary>
    protected abstract void CopyCore(Tensor x, Tensor y);

    /// <summary>Backend add.</summary>
    protected abstract void AddCore(Tensor a, Tensor b, Tensor y);

    /// <summary>Backend affine map.</summary>
    protected abstract void AffineCore(Tensor x, float scale, float shift, Tensor y);

    /// <summary>Backend axpy.</summary>
    protected abstract void AxpyCore(float alpha, Tensor x, Tensor y);

    /// <summary>Backend y = x &gt; 0 ? 1/x : 0.</summary>
    protected abstract void ReciprocalOrZeroCore(Tensor x, Tensor y, float threshold);

    /// <summary>Backend per-sample scale.</summary>
    protected abstract void ScalePerSampleCore(Tensor x, Tensor s, Tensor y);

    /// <summary>Backend per-sample axpy.</summary>
    protected abstract void AxpyPerSampleCore(float alpha, Tensor s, Tensor x, Tensor y);

    // ---------------------------------------------------------------- reductions

    /// <summary>result[0] = Σ x. result has shape [1] and stays on the device.</summary>
    public void Sum(Tensor x, Tensor result)
    {
        CheckOwned(x, nameof(x));
        CheckVector(result, 1, nameof(result), "a scalar");
        long t0 = BeginOp();
        SumCore(x, result);
        EndOp("reduction", t0);
    }

    /// <summary>result[0] = Σ a·b (same shapes). result has shape [1].</summary>
    public void Dot(Tensor a, Tensor b, Tensor result)
    {
        CheckSame(a, b, nameof(b));
        CheckVector(result, 1, nameof(result), "a scalar");
        long t0 = BeginOp();
        DotCore(a, b, result);
        EndOp("reduction", t0);
    }

    /// <summary>result[n] = ‖x[n]‖₂, the L2 norm of each batch item. result has shape [N].</summary>
    public void NormPerSample(Tensor x, Tensor result)
    {
        CheckOwned(x, nameof(x));
        CheckVector(result, x.Shape.N, nameof(result), "batch items of x");
        long t0 = BeginOp();
        NormPerSampleCore(x, result);
        EndOp("reduction", t0);
    }

    /// <summary>Σ x, read back to the host (synchronises).</summary>
    public float Sum(Tensor x)
    {
        using var r = Allocate(new Shape(1));
        Sum(x, r);
        return r.ToArray()[0];
    }

    /// <summary>Σ a·b, read back to the host (synchronises).</summary>
    public float Dot(Tensor a, Tensor b)
    {
        using var r = Allocate(new Shape(1));
        Dot(a, b, r);
        return r.ToArray()[0];
    }

    /// <summary>Backend sum.</summary>
    protected abstract void SumCore(Tensor x, Tensor result);

    /// <summary>Backend dot product.</summary>
    protected abstract void DotCore(Tensor a, Tensor b, Tensor result);

    /// <summary>Backend per-sample L2 norm.</summary>
    protected abstract void NormPerSampleCore(Tensor x, Tensor result);

    // ---------------------------------------------------------------- random numbers

    /// <summary>
    /// Fills y with standard normal numbers: element i is <c>JointDiffusion.Kernels.Philox.Gaussian</c>(seed, offset + i),
    /// so a seed gives the same stream on every backend and any slice of it can be regenerated.
    /// </summary>
    public void FillGaussian(Tensor y, ulong seed, ulong offset)
    {
        CheckOwned(y, nameof(y));
        long t0 = BeginOp();
        FillGaussianCore(y, seed, offset);
        EndOp("random", t0);
    }

    /// <summary>Backend Gaussian fill.</summary>
    protected abstract void FillGaussianCore(Tensor y, ulong seed, ulong offset);

    /// <summary>
    /// <see cref="FillGaussian"/> with a seed per block: y is cut into count = seeds.Length / 2 equal blocks of
    /// consecutive elements, and element q of block o is <c>Philox.Gaussian</c>(seed_o, offset + q), seed_o being
    /// stored in <paramref name="seeds"/> as two floats holding its low and high 32 bits (<see cref="SeedBits"/>).
    /// The seeds live on the device, so a sampler with a random stream per observation never goes back to the host
    /// for its noise.
    /// </summary>
    public void FillGaussianBlocks(Tensor y, Tensor seeds, ulong offset)
    {
        CheckOwned(y, nameof(y));
        CheckOwned(seeds, nameof(seeds));
        if (seeds.Shape.Rank != 1 || seeds.Length == 0 || seeds.Length % 2 != 0)
        {
            throw new ArgumentException($"Block seeds must be a vector of two floats per block; got {seeds.Shape}.", nameof(seeds));
        }

        int count = seeds.Length / 2;
        if (y.Length % count != 0)
        {
            throw new ArgumentException($"{y.Shape} ({y.Length} elements) does not split into {count} equal blocks.", nameof(y));
        }

        long t0 = BeginOp();
        FillGaussianBlocksCore(y, seeds, y.Length / count, offset);
        EndOp("random", t0);
    }

    /// <summary>Backend per-block Gaussian fill (blocks of <paramref name="block"/> elements).</summary>
    protected abstract void FillGaussianBlocksCore(Tensor y, Tensor seeds, int block, ulong offset);

    /// <summary>The 64-bit seeds as <see cref="FillGaussianBlocks"/> reads them: low then high 32 bits, each as a float's bit pattern.</summary>
    public static float[] SeedBits(ReadOnlySpan<ulong> seeds)
    {
        var bits = new float[2 * seeds.Length];
        for (int o = 0; o < seeds.Length; o++)
        {
            bits[2 * o] = BitConverter.Int32BitsToSingle(unchecked((int)(uint)seeds[o]));
            bits[2 * o + 1] = BitConverter.Int32BitsToSingle(unchecked((int)(uint)(seeds[o] >> 32)));
        }

        return bits;
    }

    // ---------------------------------------------------------------- concurrent work

    /// <summary>
    /// Whether <see cref="RunConcurrently"/> runs its items at the same time (each item's own ops then run on its
    /// thread alone) rather than one after the other.
    /// </summary>
    protected virtual bool RunsWorkConcurrently => false;

    /// <summary>
    /// Runs <paramref name="work"/>.Run(i) for i in [0, <paramref name="count"/>) and returns when all are done: on
    /// the SIMD backend at the same time, one item per core with each item's ops single-threaded (for independent
    /// passes each too small to fill the cores, as the two networks of a batch-1 joint sampling step); elsewhere in
    /// order (a GPU runs its ops in order anyway). The items must not depend on each other; results are the same
    /// either way. Allocates nothing. The first exception an item throws is rethrown (the remaining items may not run).
    /// </summary>
    /// <remarks>
    /// Item i rents its tensors and kernel scratch from pools of its own, the same for every call (item i of one call
    /// and of the next share them), so that each item's memory use is the same from call to call however the items
    /// interleave: after the first call nothing is allocated (a shared pool would meet a new peak whenever two
    /// items happened to hold their largest buffers at once, and allocate then).
    /// </remarks>
    public void RunConcurrently<TWork>(int count, in TWork work)
        where TWork : struct, IConcurrentWork
    {
        if (RunsWorkConcurrently && count > 1)
        {
            var pools = ItemPools(count);
            Simd.SimdWorkers.Shared.For(count, new Simd.ConcurrentItems<TWork>(work, pools));
            return;
        }

        for (int i = 0; i < count; i++)
        {
            work.Run(i);
        }
    }

    private ConcurrentItemPools[] _itemPools = [];

    /// <summary>The pools of items 0 … count − 1 of <see cref="RunConcurrently{TWork}"/>, created on first use.</summary>
    private ConcurrentItemPools[] ItemPools(int count)
    {
        var pools = Volatile.Read(ref _itemPools);
        if (pools.Length >= count)
        {
            return pools; // the usual case: every call after the first, without the lock
        }

        lock (_itemPoolsLock)
        {
            if (_itemPools.Length < count)
            {
                var grown = new ConcurrentItemPools[count];
                _itemPools.CopyTo(grown, 0);
                for (int i = _itemPools.Length; i < count; i++)
                {
                    grown[i] = new ConcurrentItemPools(this, new TensorPool(CreateStorage));
                }

                Volatile.Write(ref _itemPools, grown);
            }

            return _itemPools;
        }
    }

    private readonly Lock _itemPoolsLock = new();

    // ---------------------------------------------------------------- profiling

    /// <summary>
    /// When set, every op waits for the device before and after it runs and adds its time to the profiler:
    /// slower, but it gives the per-op time split of a network pass. Null (the default) costs nothing.
    /// </summary>
    public OpProfiler? Profiler { get; set; }

    private long BeginOp()
    {
        if (Profiler is null)
        {
            return 0;
        }

        Synchronize();
        return System.Diagnostics.Stopwatch.GetTimestamp();
    }

    private void EndOp(string op, long start)
    {
        if (Profiler is null)
        {
            return;
        }

        Synchronize();
        Profiler.Add(op, System.Diagnostics.Stopwatch.GetElapsedTime(start));
    }

    /// <summary><see cref="EndOp"/> for a convolution, also recorded by layer shape (x the layer's input, w its weights).</summary>
    private void EndConvOp(string op, long start, Tensor x, Tensor w, Conv2dSpec spec)
    {
        if (Profiler is null)
        {
            return;
        }

        Synchronize();
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start);
        Profiler.Add(op, elapsed);
        var (n, h, k) = (x.Shape.N, x.Shape.H, w.Shape.H);
        Profiler.AddDetail(string.Create(CultureInfo.InvariantCulture,
            $"{op} {w.Shape.C}→{w.Shape.N} {h}x{x.Shape.W} k{k} d{spec.Dilation} n{n}"), elapsed);
    }

    // ---------------------------------------------------------------- disposal

    /// <summary>Frees pooled memory and the device.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees pooled memory; derived classes free their device after calling this.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _pool?.Dispose();
            foreach (var item in _itemPools)
            {
                item.Tensors.Dispose();
            }
        }
    }

    // ---------------------------------------------------------------- checks

    private void CheckOwned(Tensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.IsDisposed)
        {
            throw new ObjectDisposedException(name, $"Tensor '{name}' {t.Shape} was already disposed.");
        }

        if (!ReferenceEquals(t.Backend, this))
        {
            throw new ArgumentException($"Tensor '{name}' lives on backend '{t.Backend.Name}', not on '{Name}'.", name);
        }
    }

    private void CheckPerSample(Tensor w, Tensor x, string name)
    {
        CheckOwned(w, name);
        if (w.Length != x.Shape.PerSample)
        {
            throw new ArgumentException($"'{name}' {w.Shape} has {w.Length} values but each batch item of {x.Shape} has {x.Shape.PerSample}.", name);
        }
    }

    private void CheckNchw(Tensor t, string name)
    {
        CheckOwned(t, name);
        if (t.Shape.Rank != 4)
        {
            throw new ArgumentException($"'{name}' must be NCHW (rank 4); got {t.Shape}.", name);
        }
    }

    private void CheckSame(Tensor reference, Tensor t, string name)
    {
        CheckOwned(reference, "input");
        CheckOwned(t, name);
        if (reference.Shape != t.Shape)
        {
            throw new ArgumentException($"'{name}' has shape {t.Shape} but must match {reference.Shape}.", name);
        }
    }

    private void CheckVector(Tensor t, int length, string name, string what)
    {
        CheckOwned(t, name);
        if (t.Shape != new Shape(length))
        {
            throw new ArgumentException($"'{name}' has shape {t.Shape} but must be [{length}] (one value per {what}).", name);
        }
    }

    private void CheckConv(Tensor x, Tensor w, Tensor? b, Tensor y, Conv2dSpec spec)
    {
        CheckNchw(x, "x");
        CheckNchw(w, "w");
        CheckNchw(y, "y");
        if (spec.Padding < 0 || spec.Dilation < 1)
        {
            throw new ArgumentException($"Conv2d needs padding ≥ 0 and dilation ≥ 1; got {spec}.", nameof(spec));
        }

        var (xs, ws, ys) = (x.Shape, w.Shape, y.Shape);
        if (ws.H != ws.W)
        {
            throw new ArgumentException($"Conv2d supports square kernels only; weight shape {ws}.", nameof(w));
        }

        if (ws.C != xs.C)
        {
            throw new ArgumentException($"Conv2d input has {xs.C} channels but the weight {ws} expects {ws.C}.", nameof(x));
        }

        int ho = spec.OutputSize(xs.H, ws.H), wo = spec.OutputSize(xs.W, ws.W);
        if (ho < 1 || wo < 1)
        {
            throw new ArgumentException($"Conv2d input {xs} is too small for kernel {ws.H} with {spec}.", nameof(x));
        }

        var expected = Shape.Nchw(xs.N, ws.N, ho, wo);
        if (ys != expected)
        {
            throw new ArgumentException($"Conv2d of x {xs} with w {ws} and {spec} gives {expected}, but the output is {ys}.", nameof(y));
        }

        if (b is not null)
        {
            CheckVector(b, ws.N, "b", "output channel");
        }
    }

    private void CheckInstanceNorm(Tensor x, Tensor alpha, Tensor gamma, Tensor beta, Tensor stats)
    {
        CheckNchw(x, nameof(x));
        int c = x.Shape.C;
        if (c < 2)
        {
            throw new ArgumentException($"InstanceNorm2dPlus needs at least 2 channels (the unbiased variance over channel means divides by C−1); x is {x.Shape}.", nameof(x));
        }

        CheckVector(alpha, c, nameof(alpha), "channel");
        CheckVector(gamma, c, nameof(gamma), "channel");
        CheckVector(beta, c, nameof(beta), "channel");
        CheckOwned(stats, nameof(stats));
        var expected = new Shape(x.Shape.N, InstanceNormStats.PerSample(c));
        if (stats.Shape != expected)
        {
            throw new ArgumentException($"InstanceNorm2dPlus stats must be {expected} for x {x.Shape}; got {stats.Shape}.", nameof(stats));
        }
    }

    private void CheckMeanPool(Tensor x, Tensor y)
    {
        CheckNchw(x, nameof(x));
        CheckNchw(y, nameof(y));
        var xs = x.Shape;
        if (xs.H % 2 != 0 || xs.W % 2 != 0)
        {
            throw new ArgumentException($"2x2 mean pooling needs even height and width; input is {xs}.", nameof(x));
        }

        var expected = Shape.Nchw(xs.N, xs.C, xs.H / 2, xs.W / 2);
        if (y.Shape != expected)
        {
            throw new ArgumentException($"2x2 mean pool of {xs} gives {expected}, but the output is {y.Shape}.", nameof(y));
        }
    }

    private void CheckMaxPool(Tensor x, Tensor y, int kernel)
    {
        CheckNchw(x, nameof(x));
        CheckSame(x, y, nameof(y));
        if (kernel < 1 || kernel % 2 == 0)
        {
            throw new ArgumentException($"Max pool kernel must be odd and positive; got {kernel}.", nameof(kernel));
        }
    }

    private void CheckResize(Tensor x, Tensor y)
    {
        CheckNchw(x, nameof(x));
        CheckNchw(y, nameof(y));
        if (x.Shape.N != y.Shape.N || x.Shape.C != y.Shape.C)
        {
            throw new ArgumentException($"Bilinear resize keeps batch and channels: {x.Shape} cannot become {y.Shape}.", nameof(y));
        }
    }
}
