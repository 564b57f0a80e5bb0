using ILGPU;
using ILGPU.Runtime;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Backends.Ilgpu;

/// <summary>
/// Every kernel of the ILGPU backend, compiled once for one accelerator. Per-element kernels are
/// auto-grouped (launched with the element count); reduction kernels take an explicit
/// <see cref="KernelConfig"/> (one group per plane, sample or partial).
/// </summary>
internal sealed class IlgpuKernelSet
{
    /// <summary>Compiles every kernel; the tiled convolution kernels only when <paramref name="tiledConvolution"/>.</summary>
    public IlgpuKernelSet(Accelerator a, bool tiledConvolution)
    {
        Fill = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(ElementwiseKernels.Fill);
        Copy = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Copy);
        Add = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Add);
        Affine = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, float, ArrayView<float>>(ElementwiseKernels.Affine);
        Axpy = a.LoadAutoGroupedStreamKernel<Index1D, float, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Axpy);
        ReciprocalOrZero = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(ElementwiseKernels.ReciprocalOrZero);
        AdamUpdate = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStep>(OptimizerKernels.AdamUpdate);
        ScalePerSample = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.ScalePerSample);
        AxpyPerSample = a.LoadAutoGroupedStreamKernel<Index1D, float, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.AxpyPerSample);
        MultiplyBroadcast = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.MultiplyBroadcast);
        AddBroadcast = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.AddBroadcast);

        MatVec = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LinearAlgebraKernels.MatVec);
        MatVecTransposed = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LinearAlgebraKernels.MatVecTransposed);

        EluForward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(EluKernels.Forward);
        EluBackward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(EluKernels.Backward);
        EluBackwardFromOutput = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(EluKernels.BackwardFromOutput);

        MeanPoolForward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolKernels.Geometry>(PoolKernels.MeanPool2x2Forward);
        MeanPoolBackward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolKernels.Geometry, int>(PoolKernels.MeanPool2x2Backward);
        MaxPoolForward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolKernels.Geometry>(PoolKernels.MaxPoolForward);
        MaxPoolArgMax = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, PoolKernels.Geometry>(PoolKernels.MaxPoolArgMax);
        MaxPoolBackward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, PoolKernels.Geometry, int>(PoolKernels.MaxPoolBackward);

        BilinearForward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, BilinearKernels.Geometry>(BilinearKernels.Forward);
        BilinearBackward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, BilinearKernels.Geometry, int>(BilinearKernels.Backward);

        ConvForward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry>(Conv2dKernels.Forward);
        ConvBackwardData = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry>(Conv2dKernels.BackwardData);
        ConvBackwardWeight = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry>(Conv2dKernels.BackwardWeight);
        ConvBackwardBias = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry>(Conv2dKernels.BackwardBias);
        if (tiledConvolution)
        {
            ConvTiledForward = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry, Conv2dTiledKernels.Tiling>(Conv2dTiledKernels.Forward);
            ConvTiledBackwardData = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry, Conv2dTiledKernels.Tiling>(Conv2dTiledKernels.BackwardData);
            ConvTiledBackwardWeight = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry, Conv2dTiledKernels.Tiling, int>(Conv2dTiledKernels.BackwardWeight);
            ConvSumSplits = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(Conv2dTiledKernels.SumSplits);
        }

        NormPlaneStatistics = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry>(InstanceNormKernels.PlaneStatistics);
        NormSampleStatistics = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, InstanceNormKernels.Geometry>(InstanceNormKernels.SampleStatistics);
        NormForward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry>(InstanceNormKernels.Forward);
        NormPlaneGradientSums = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry>(InstanceNormKernels.PlaneGradientSums);
        NormParameterGradients = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry>(InstanceNormKernels.ParameterGradients);
        NormMeanGradients = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry>(InstanceNormKernels.MeanGradients);
        NormInputGradient = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry>(InstanceNormKernels.InputGradient);

        SumPartials = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(ReductionKernels.SumPartials);
        DotPartials = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(ReductionKernels.DotPartials);
        NormPerSample = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(ReductionKernels.NormPerSample);

        Gaussian = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ulong, ulong>(RandomKernels.Gaussian);
        GaussianBlocks = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, ulong>(RandomKernels.GaussianBlocks);
    }

    public Action<Index1D, ArrayView<float>, float> Fill { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>> Copy { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> Add { get; }

    public Action<Index1D, ArrayView<float>, float, float, ArrayView<float>> Affine { get; }

    public Action<Index1D, float, ArrayView<float>, ArrayView<float>> Axpy { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, float> ReciprocalOrZero { get; }

    /// <summary>Fused Adam step.</summary>
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamStep> AdamUpdate { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> ScalePerSample { get; }

    public Action<Index1D, float, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> AxpyPerSample { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> MultiplyBroadcast { get; }

    public Action<Index1D, ArrayView<float>, float, ArrayView<float>, ArrayView<float>> AddBroadcast { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> MatVec { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> MatVecTransposed { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>> EluForward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> EluBackward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> EluBackwardFromOutput { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, PoolKernels.Geometry> MeanPoolForward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, PoolKernels.Geometry, int> MeanPoolBackward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, PoolKernels.Geometry> MaxPoolForward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, PoolKernels.Geometry> MaxPoolArgMax { get; }

    public Action<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<float>, PoolKernels.Geometry, int> MaxPoolBackward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, BilinearKernels.Geometry> BilinearForward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, BilinearKernels.Geometry, int> BilinearBackward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry> ConvForward { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry> ConvBackwardData { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry> ConvBackwardWeight { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry> ConvBackwardBias { get; }

    /// <summary>Tiled implicit-GEMM forward (null when the device takes no tile).</summary>
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry, Conv2dTiledKernels.Tiling>? ConvTiledForward { get; }

    /// <summary>Tiled implicit-GEMM backward-data (null when the device takes no tile).</summary>
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry, Conv2dTiledKernels.Tiling>? ConvTiledBackwardData { get; }

    /// <summary>Tiled backward-weight over one split range per group (null when the device takes no tile).</summary>
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dKernels.Geometry, Conv2dTiledKernels.Tiling, int>? ConvTiledBackwardWeight { get; }

    /// <summary>Adds backward-weight split partials in split order (null when the device takes no tile).</summary>
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? ConvSumSplits { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry> NormPlaneStatistics { get; }

    public Action<Index1D, ArrayView<float>, InstanceNormKernels.Geometry> NormSampleStatistics { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry> NormForward { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry> NormPlaneGradientSums { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry> NormParameterGradients { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry> NormMeanGradients { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, InstanceNormKernels.Geometry> NormInputGradient { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>> SumPartials { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>> DotPartials { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, int> NormPerSample { get; }

    public Action<Index1D, ArrayView<float>, ulong, ulong> Gaussian { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, ulong> GaussianBlocks { get; }
}
