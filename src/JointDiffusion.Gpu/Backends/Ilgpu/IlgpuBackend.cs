namespace JointDiffusion.Gpu.Backends.Ilgpu;

/// <summary>The ILGPU backend (CUDA, OpenCL, and ILGPU's CPU accelerator for tests). Filled in by the ILGPU work.</summary>
internal static class IlgpuBackendPlaceholder
{
}
