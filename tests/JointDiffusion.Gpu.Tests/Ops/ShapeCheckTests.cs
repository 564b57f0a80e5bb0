using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.Backends.Simd;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Gpu.Tests.Ops;

/// <summary>
/// Invalid arguments are rejected before any kernel runs, with an exception whose message names the problem
/// and whose parameter name points at the offending argument.
/// </summary>
[Collection(BackendCollection.Name)]
public sealed class ShapeCheckTests(BackendFixture fixture)
{
    private static void AssertRejected(Action call, string param, params string[] messageParts)
    {
        var e = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(param, e.ParamName);
        foreach (var part in messageParts)
        {
            Assert.Contains(part, e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void Conv2d_RejectsMismatchedChannelsBiasAndOutput(string backendName)
    {
        var backend = fixture.Get(backendName);
        using var x = backend.Allocate(Shape.Nchw(1, 3, 5, 5));
        using var w = backend.Allocate(Shape.Nchw(4, 2, 3, 3));
        using var wOk = backend.Allocate(Shape.Nchw(4, 3, 3, 3));
        using var y = backend.Allocate(Shape.Nchw(1, 4, 5, 5));
        using var yWrong = backend.Allocate(Shape.Nchw(1, 4, 3, 3));
        using var bWrong = backend.Allocate(new Shape(5));
        using var wRect = backend.Allocate(Shape.Nchw(4, 3, 3, 1));
        var same = Conv2dSpec.Same(3);

        AssertRejected(() => backend.Conv2dForward(x, w, null, y, same), "x", "3 channels", "expects 2");
        AssertRejected(() => backend.Conv2dForward(x, wOk, bWrong, y, same), "b", "[5]", "[4]", "output channel");
        AssertRejected(() => backend.Conv2dForward(x, wOk, null, yWrong, same), "y", "gives [1, 4, 5, 5]", "[1, 4, 3, 3]");
        AssertRejected(() => backend.Conv2dForward(x, wRect, null, y, same), "w", "square kernels");
        AssertRejected(() => backend.Conv2dForward(x, wOk, null, y, new Conv2dSpec(-1, 1)), "spec", "padding ≥ 0");
        AssertRejected(() => backend.Conv2dBackwardData(y, w, x, same, false), "x", "3 channels");
        AssertRejected(() => backend.Conv2dBackwardWeight(x, y, null, bWrong, same, false), "db", "Bias gradient", "4 output channels");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void MeanPool2x2_RejectsOddSizesAndWrongOutput(string backendName)
    {
        var backend = fixture.Get(backendName);
        using var odd = backend.Allocate(Shape.Nchw(1, 2, 5, 4));
        using var y = backend.Allocate(Shape.Nchw(1, 2, 2, 2));
        using var even = backend.Allocate(Shape.Nchw(1, 2, 4, 4));
        using var yWrong = backend.Allocate(Shape.Nchw(1, 2, 2, 3));

        AssertRejected(() => backend.MeanPool2x2(odd, y), "x", "even height and width", "[1, 2, 5, 4]");
        AssertRejected(() => backend.MeanPool2x2(even, yWrong), "y", "gives [1, 2, 2, 2]");
        AssertRejected(() => backend.MeanPool2x2Backward(y, odd, false), "x", "even height and width");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void InstanceNorm2dPlus_RejectsWrongStatsParametersAndSingleChannel(string backendName)
    {
        var backend = fixture.Get(backendName);
        using var x = backend.Allocate(Shape.Nchw(2, 3, 4, 4));
        using var y = backend.Allocate(x.Shape);
        using var p = backend.Allocate(new Shape(3));
        using var pWrong = backend.Allocate(new Shape(4));
        using var stats = backend.Allocate(new Shape(2, 8));
        using var statsWrong = backend.Allocate(new Shape(2, 7));
        using var one = backend.Allocate(Shape.Nchw(2, 1, 4, 4));
        using var p1 = backend.Allocate(new Shape(1));
        using var stats1 = backend.Allocate(new Shape(2, 4));

        AssertRejected(() => backend.InstanceNorm2dPlus(x, p, p, p, y, statsWrong), "stats", "stats must be [2, 8]", "[2, 7]");
        AssertRejected(() => backend.InstanceNorm2dPlus(x, p, pWrong, p, y, stats), "gamma", "[4]", "[3]", "channel");
        AssertRejected(() => backend.InstanceNorm2dPlus(one, p1, p1, p1, one, stats1), "x", "at least 2 channels");
        AssertRejected(() => backend.InstanceNorm2dPlusBackward(x, y, p, p, stats, null, pWrong, null, null, false), "dalpha", "[4]", "[3]");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void PoolsResizeAndElementwise_RejectMismatchedShapes(string backendName)
    {
        var backend = fixture.Get(backendName);
        using var x = backend.Allocate(Shape.Nchw(3, 2, 4, 4));
        using var other = backend.Allocate(Shape.Nchw(3, 2, 4, 5));
        using var resized = backend.Allocate(Shape.Nchw(3, 4, 8, 8));
        using var s = backend.Allocate(new Shape(2));
        using var scalarWrong = backend.Allocate(new Shape(2));

        AssertRejected(() => backend.MaxPool2d(x, x, 4), "kernel", "odd", "4");
        AssertRejected(() => backend.MaxPool2d(x, other, 5), "y", "[3, 2, 4, 5]", "[3, 2, 4, 4]");
        AssertRejected(() => backend.BilinearResize(x, resized), "y", "keeps batch and channels");
        AssertRejected(() => backend.Add(x, other, x), "b", "[3, 2, 4, 5]");
        AssertRejected(() => backend.ScalePerSample(x, s, x), "s", "[2]", "[3]", "batch items");
        AssertRejected(() => backend.Sum(x, scalarWrong), "result", "[2]", "scalar");
        AssertRejected(() => backend.Upload(new float[5], x), "source", "5 values");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void Ops_RejectTensorsFromAnotherBackend(string backendName)
    {
        var backend = fixture.Get(backendName);
        using var foreignBackend = new SimdBackend();
        using var foreign = foreignBackend.Allocate(Shape.Nchw(1, 2, 4, 4));
        using var own = backend.Allocate(Shape.Nchw(1, 2, 4, 4));

        AssertRejected(() => backend.Elu(own, foreign), "y", "lives on backend 'cpu'", $"not on '{backend.Name}'");
        AssertRejected(() => backend.Copy(foreign, own), "input", "lives on backend 'cpu'");
        AssertRejected(() => backend.FillGaussian(foreign, 1, 0), "y", "lives on backend");
    }

    [Theory]
    [MemberData(nameof(BackendFixture.Names), MemberType = typeof(BackendFixture))]
    public void Ops_RejectDisposedTensors(string backendName)
    {
        var backend = fixture.Get(backendName);
        using var live = backend.Allocate(Shape.Nchw(1, 2, 4, 4));
        var dead = backend.Allocate(Shape.Nchw(1, 2, 4, 4));
        dead.Dispose();

        var e = Assert.Throws<ObjectDisposedException>(() => backend.Elu(live, dead));
        Assert.Contains("'y'", e.Message, StringComparison.Ordinal);
        Assert.Contains("already disposed", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ObjectDisposedException>(() => backend.Download(dead, new float[dead.Length]));
        Assert.Contains("already disposed", e.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => backend.Sum(dead));
    }
}
