namespace JointDiffusion.Gpu.Backends;

/// <summary>The devices a user can ask for with <c>--device</c>.</summary>
public enum DeviceKind
{
    /// <summary>CUDA if present, then OpenCL, then the SIMD CPU backend.</summary>
    Auto,

    /// <summary>The hand-written SIMD, multithreaded C# backend.</summary>
    Cpu,

    /// <summary>ILGPU's CPU accelerator: runs the GPU kernels on the CPU, slowly; for tests.</summary>
    IlgpuCpu,

    /// <summary>An NVIDIA GPU through ILGPU's CUDA backend.</summary>
    Cuda,

    /// <summary>An OpenCL 2.0 GPU (with the generic address space) through ILGPU's OpenCL backend.</summary>
    OpenCL,
}
