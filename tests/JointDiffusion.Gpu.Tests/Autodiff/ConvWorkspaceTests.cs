using JointDiffusion.Gpu.Autodiff;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Autodiff;

/// <summary>
/// Convolution workspaces (<see cref="ConvWorkspace"/>): the tape hands one to every convolution whose weights need a
/// gradient, and the SIMD backend's weight gradient then reads x and dy as the forward and backward-data passes packed
/// them. The gradients must be the very bits of the same ops run without workspaces, on a fresh tape and on a reset one.
/// </summary>
public sealed unsafe class ConvWorkspaceTests : IDisposable
{
    // 32 channels and 2·4·4 = 32 tiles: every convolution here goes through Winograd.
    private const int N = 2, C = 32, H = 16, W = 16;
    private readonly SimdBackend _backend = new(winograd: true);

    public void Dispose() => _backend.Dispose();

    [Fact]
    public void CreateConvWorkspace_OnlyWithWinograd()
    {
        using var direct = new SimdBackend(winograd: false);
        Assert.Null(direct.CreateConvWorkspace());
        Assert.Equal(SimdWinograd.Supported, _backend.CreateConvWorkspace() is not null);
    }

    [Fact]
    public void TapeGradients_WithWorkspaces_AreBitIdenticalToPlainOps()
    {
        var rng = new Random(5);
        using var x = Rand(rng, new Shape(N, C, H, W));
        using var w1 = Rand(rng, new Shape(C, C, 3, 3));
        using var w2 = Rand(rng, new Shape(C, C, 3, 3));
        using var b2 = Rand(rng, new Shape(C));
        using var seed = Rand(rng, new Shape(N, C, H, W));
        var dilated = new Conv2dSpec(2, 2);

        // Plain ops: y1 = conv(x, w1), y2 = conv(y1, w2, dilation 2) + b2; the backward of ⟨seed, y2⟩.
        using var y1 = _backend.Allocate(new Shape(N, C, H, W));
        using var y2 = _backend.Allocate(new Shape(N, C, H, W));
        using var dy1 = _backend.Allocate(new Shape(N, C, H, W));
        using var dw1 = _backend.Allocate(w1.Shape);
        using var dw2 = _backend.Allocate(w2.Shape);
        using var db2 = _backend.Allocate(b2.Shape);
        _backend.Conv2dForward(x, w1, null, y1, Conv2dSpec.Same(3));
        _backend.Conv2dForward(y1, w2, b2, y2, dilated);
        _backend.Conv2dBackwardData(seed, w2, dy1, dilated, accumulate: false);
        _backend.Conv2dBackwardWeight(y1, seed, dw2, db2, dilated, accumulate: false);
        _backend.Conv2dBackwardWeight(x, dy1, dw1, null, Conv2dSpec.Same(3), accumulate: false);

        using var tape = new Tape(_backend);
        for (int round = 0; round < 2; round++)
        {
            // The second round records on the reset tape: its workspaces are reused.
            tape.Reset();
            using var g1 = _backend.Allocate(w1.Shape);
            using var g2 = _backend.Allocate(w2.Shape);
            using var gb = _backend.Allocate(b2.Shape);
            foreach (var g in new[] { g1, g2, gb })
            {
                _backend.Fill(g, 0f);
            }

            var input = tape.Input(x, requiresGrad: false);
            var h = tape.Conv2d(input, tape.Parameter(w1, g1), null, Conv2dSpec.Same(3));
            var output = tape.Conv2d(h, tape.Parameter(w2, g2), tape.Parameter(b2, gb), dilated);
            tape.Backward(output, seed);

            Assert.Equal(y2.ToArray(), output.Value.ToArray());
            Assert.Equal(dw2.ToArray(), g2.ToArray());
            Assert.Equal(db2.ToArray(), gb.ToArray());
            Assert.Equal(dw1.ToArray(), g1.ToArray());
        }
    }

    [Fact]
    public void PackedSource_GrowsForLargerInputs_AndForgetsOnPrepareAndRelease()
    {
        var kept = new SimdPackedSource();
        var source = new float[10];
        var tiling = new SimdWinogradTiling(1, 4, 4, 1, 1);
        var small = kept.Prepare(100);
        Assert.True(small.Array.Length - small.Offset >= 100);
        kept.Filled(source, tiling, 3);
        Assert.True(kept.Holds(source, tiling, 3));
        Assert.False(kept.Holds(source, tiling, 4));

        var large = kept.Prepare(100_000); // a larger convolution in the same workspace: a larger buffer, nothing held
        Assert.True(large.Array.Length - large.Offset >= 100_000);
        // On a cache line (a large array: the garbage collector does not move it).
        Assert.Equal(0, (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref large.Start) & 63);
        Assert.False(kept.Holds(source, tiling, 3));
        kept.Filled(source, tiling, 3);
        kept.Release();
        Assert.False(kept.Holds(source, tiling, 3));
        kept.Release(); // twice is harmless
    }

    [Fact]
    public void Workspace_OfAnotherBackend_IsRejected()
    {
        using var x = _backend.Allocate(new Shape(N, C, H, W));
        using var w = _backend.Allocate(new Shape(C, C, 3, 3));
        using var y = _backend.Allocate(new Shape(N, C, H, W));
        _backend.Fill(x, 1f);
        _backend.Fill(w, 1f);
        Assert.Throws<ArgumentException>(() => _backend.Conv2dForward(x, w, null, y, Conv2dSpec.Same(3), new ForeignWorkspace()));
    }

    private Tensor Rand(Random rng, Shape shape)
    {
        var data = new float[shape.Length];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)(2 * rng.NextDouble() - 1);
        }

        return _backend.FromHost(data, shape);
    }

    private sealed class ForeignWorkspace : ConvWorkspace
    {
        public override void Clear()
        {
        }
    }
}
