using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Perf;

/// <summary>
/// What makes a sampling step allocation-free must not change results: a reset tape and a reused NCSNv2
/// evaluation give bit-identical values to fresh ones, evaluations alive at the same time stay independent, and a
/// reset tape records the same ops again without allocating anything.
/// </summary>
[Collection(PerfCollection.Name)]
public sealed class EvaluationReuseTests : IDisposable
{
    private readonly SimdBackend _backend = new();

    public void Dispose() => _backend.Dispose();

    private Tensor Random(Shape shape, ulong seed)
    {
        var t = _backend.Allocate(shape);
        _backend.FillGaussian(t, seed, 0);
        return t;
    }

    [Fact]
    public void ReusedEvaluation_GivesBitIdenticalScoresAndVjps_AndLiveEvaluationsStayIndependent()
    {
        var shape = Shape.Nchw(2, 1, 8, 8);
        using var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 3);
        using var x = Random(shape, 1);
        using var x2 = Random(shape, 2);
        using var v = Random(shape, 3);
        using var vjp = _backend.Allocate(shape);
        float[] sigma = [0.7f, 3f], otherSigma = [1.5f, 0.2f];

        float[] score, jacobian;
        using (var first = net.Evaluate(x, sigma, needVjp: true))
        {
            score = first.Score.ToArray();
            first.Vjp(v, vjp);
            jacobian = vjp.ToArray();
        }

        // Another shape of work in between, then the same evaluation again on the reused tape and buffers.
        using (var other = net.Evaluate(x2, otherSigma, needVjp: false))
        {
            Assert.NotEqual(score, other.Score.ToArray());
        }

        for (int round = 0; round < 3; round++)
        {
            using var again = net.Evaluate(x, sigma, needVjp: true);
            Assert.Equal(score, again.Score.ToArray());
            again.Vjp(v, vjp);
            Assert.Equal(jacobian, vjp.ToArray());
        }

        // Two evaluations alive at once (the sampler's signal and noise do this with two networks; here one network).
        var a = net.Evaluate(x, sigma, needVjp: true);
        var b = net.Evaluate(x2, otherSigma, needVjp: true);
        Assert.NotSame(a, b);
        Assert.Equal(score, a.Score.ToArray());
        b.Vjp(v, vjp);
        a.Vjp(v, vjp);
        Assert.Equal(jacobian, vjp.ToArray());
        a.Dispose();
        b.Dispose();
        Assert.Throws<ObjectDisposedException>(() => a.Score);
    }

    [Fact]
    public void RepeatedEvaluations_CreateNoDeviceMemory_AndReturnWhatTheyRent()
    {
        var shape = Shape.Nchw(2, 1, 8, 8);
        using var net = Ncsnv2.CreateRandom(_backend, 4, 1, seed: 4);
        using var x = Random(shape, 1);
        using var v = Random(shape, 2);
        using var vjp = _backend.Allocate(shape);
        float[] sigma = [1f, 2f];
        long created = 0, inUse = 0;
        for (int i = 0; i < 4; i++)
        {
            using (var e = net.Evaluate(x, sigma, needVjp: true))
            {
                e.Vjp(v, vjp);
            }

            if (i == 1)
            {
                (created, inUse) = (_backend.Pool.BytesCreated, _backend.Pool.BytesInUse);
            }
            else if (i > 1)
            {
                Assert.Equal(created, _backend.Pool.BytesCreated);
                Assert.Equal(inUse, _backend.Pool.BytesInUse);
            }
        }
    }

    /// <summary>conv → InstanceNorm++ → ELU → 5x5 max pool → add → InstanceNorm++ fused with ELU → per-sample scale, input VJP only.</summary>
    private static (Variable Input, Variable Output) Record(Tape tape, Tensor x, Tensor w, Tensor alpha, Tensor gamma, Tensor beta, Tensor s)
    {
        var input = tape.Input(x, requiresGrad: true);
        var h = tape.Conv2d(input, tape.Constant(w), null, Conv2dSpec.Same(3));
        h = tape.Elu(tape.InstanceNorm2dPlus(h, tape.Constant(alpha), tape.Constant(gamma), tape.Constant(beta)));
        h = tape.Add(tape.MaxPool2d(h, 5), h);
        h = tape.InstanceNorm2dPlusElu(h, tape.Constant(alpha), tape.Constant(gamma), tape.Constant(beta));
        return (input, tape.ScalePerSample(h, s));
    }

    [Fact]
    public void ResetTape_RecordsAgainBitIdentically_WithoutAllocating()
    {
        var shape = Shape.Nchw(2, 2, 8, 8);
        using var x = Random(shape, 5);
        using var w = Random(Shape.Nchw(4, 2, 3, 3), 6);
        using var alpha = Random(new Shape(4), 7);
        using var gamma = Random(new Shape(4), 8);
        using var beta = Random(new Shape(4), 9);
        using var s = _backend.FromHost([0.5f, 2f], new Shape(2));
        using var seed = Random(Shape.Nchw(2, 4, 8, 8), 10);

        float[] expectedY, expectedGrad;
        using (var fresh = new Tape(_backend))
        {
            var (input, y) = Record(fresh, x, w, alpha, gamma, beta, s);
            fresh.Backward(y, seed);
            expectedY = y.Value.ToArray();
            expectedGrad = input.Grad!.ToArray();
        }

        using var tape = new Tape(_backend);
        var yHost = new float[expectedY.Length];
        var gradHost = new float[x.Length];
        long[] allocated = new long[4];
        for (int round = 0; round < allocated.Length; round++)
        {
            tape.Reset();
            long before = GC.GetAllocatedBytesForCurrentThread() + SimdWorkers.Shared.WorkerAllocatedBytes;
            var (input, y) = Record(tape, x, w, alpha, gamma, beta, s);
            tape.Backward(y, seed);
            _backend.Download(y.Value, yHost);
            _backend.Download(input.Grad!, gradHost);
            allocated[round] = GC.GetAllocatedBytesForCurrentThread() + SimdWorkers.Shared.WorkerAllocatedBytes - before;
            Assert.Equal(expectedY, yHost);
            Assert.Equal(expectedGrad, gradHost);
        }

        // After the first round: nothing.
        Assert.All(allocated.Skip(1), bytes => Assert.Equal(0, bytes));
    }
}
