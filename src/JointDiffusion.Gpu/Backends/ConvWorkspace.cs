namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// What a backend may keep from a convolution's forward pass for its backward passes, and from its backward-data pass
/// for its weight gradient: the SIMD backend keeps the Winograd-packed input and output gradient, so that the weight
/// gradient does not pack them again. Made by <see cref="ComputeBackend.CreateConvWorkspace"/> (null where a backend
/// keeps nothing); pass the same workspace to the forward and backward calls of one convolution, with the same input
/// and output-gradient tensors unchanged in between (the backend checks the tensors and the geometry, and packs anew on
/// any difference), then <see cref="Clear"/> it.
/// </summary>
/// <remarks>
/// What is kept is as large as the convolution's input and output gradient (rounded up to whole 16-channel vectors and
/// padded), for as long as the workspace holds it. <see cref="Autodiff.Tape"/> uses one per convolution whose weights
/// need a gradient, and clears it once that convolution's backward has run.
/// </remarks>
public abstract class ConvWorkspace
{
    /// <summary>Gives back the memory held; the workspace stays usable (the next forward fills it again).</summary>
    public abstract void Clear();
}
