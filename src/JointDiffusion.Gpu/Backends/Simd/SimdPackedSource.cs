using System.Buffers;

namespace JointDiffusion.Gpu.Backends.Simd;

/// <summary>
/// The padded NHWC copy of a Winograd correlation's source (see <see cref="SimdWinograd.Correlate"/>) kept after the
/// correlation, with what it was packed from, so that a later weight gradient of the same convolution reads it instead
/// of packing the same tensor again.
/// </summary>
internal sealed class SimdPackedSource
{
    private ArrayPool<float>? _pool;
    private float[]? _source;
    private SimdWinogradTiling _tiling;
    private int _channels;

    /// <summary>The packed buffer; valid when <see cref="Holds"/>.</summary>
    public AlignedFloats Buffer { get; private set; }

    /// <summary>Whether the buffer holds <paramref name="source"/> (unchanged since: the caller's promise) packed with this tiling.</summary>
    public bool Holds(float[] source, in SimdWinogradTiling tiling, int channels) =>
        ReferenceEquals(_source, source) && _channels == channels && tiling.Samples == _tiling.Samples && tiling.Height == _tiling.Height
        && tiling.Width == _tiling.Width && tiling.Pad == _tiling.Pad && tiling.Dilation == _tiling.Dilation;

    /// <summary>A buffer of at least <paramref name="length"/> floats to pack into (the old one if large enough); holds nothing until <see cref="Filled"/>.</summary>
    public AlignedFloats Prepare(int length)
    {
        _source = null;
        if (_pool is null || Buffer.Array.Length - Buffer.Offset < length)
        {
            Release();
            _pool = SimdScratch.Floats;
            Buffer = SimdScratch.RentAligned(length);
        }

        return Buffer;
    }

    /// <summary>Records that the buffer now holds <paramref name="source"/> packed with <paramref name="tiling"/>.</summary>
    public void Filled(float[] source, in SimdWinogradTiling tiling, int channels)
    {
        _source = source;
        _tiling = tiling;
        _channels = channels;
    }

    /// <summary>Returns the buffer to the pool it came from.</summary>
    public void Release()
    {
        _source = null;
        if (_pool is not null)
        {
            _pool.Return(Buffer.Array);
            _pool = null;
            Buffer = default;
        }
    }
}

/// <summary>The SIMD backend's <see cref="ConvWorkspace"/>: the packed input and output gradient of one convolution.</summary>
internal sealed class SimdConvWorkspace : ConvWorkspace
{
    /// <summary>The input x, packed by the forward pass.</summary>
    public SimdPackedSource Input { get; } = new();

    /// <summary>The output gradient dy, packed by the backward-data pass.</summary>
    public SimdPackedSource OutputGradient { get; } = new();

    /// <inheritdoc/>
    public override void Clear()
    {
        Input.Release();
        OutputGradient.Release();
    }
}
