using System.Reflection;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using JointDiffusion.Gpu.Backends.Ilgpu;
using JointDiffusion.Kernels;

namespace JointDiffusion.Gpu.Tests.Backends;

/// <summary>
/// Compiles every kernel to PTX and to OpenCL C with ILGPU's own code generators, which need no GPU, so that a
/// construct the CPU accelerator accepts but a GPU backend rejects (a math function without a GPU
/// implementation, a managed allocation, double precision where the device has none) fails here rather than
/// on the first GPU that runs it. Loading and running on real devices is still a GPU-machine check.
/// </summary>
public sealed class IlgpuKernelCompilationTests
{
    public static TheoryData<string> Kernels => new(KernelMethods().Select(m => $"{m.DeclaringType!.Name}.{m.Name}"));

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Kernel_CompilesToPtxForPascalAndHopper(string kernel)
    {
        using var context = Context.Create(b => IlgpuBackend.ConfigureKernelCompilation(b).DefaultCPU());
        foreach (var (architecture, isa) in new[] { (CudaArchitecture.SM_61, CudaInstructionSet.ISA_60), (CudaArchitecture.SM_90, CudaInstructionSet.ISA_80) })
        {
            using var ptx = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, isa, nvvmAPI: null);
            var compiled = (PTXCompiledKernel)ptx.Compile(EntryPoint(kernel), KernelSpecialization.Empty);
            Assert.Contains(".entry", compiled.PTXAssembly, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Kernel_CompilesToOpenClC(string kernel)
    {
        using var context = Context.Create(b => IlgpuBackend.ConfigureKernelCompilation(b).DefaultCPU());
        // OpenCL C 2.0 with the generic address space, which ILGPU requires, and no double precision, which
        // many OpenCL GPUs lack: no kernel may need it.
        var capabilities = new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true, int64_Atomics: false, subGroups: false);
        using var cl = new CLBackend(context, capabilities, CLDeviceVendor.Other, CLCVersion.CL20);
        var compiled = (CLCompiledKernel)cl.Compile(EntryPoint(kernel), KernelSpecialization.Empty);
        Assert.Contains("kernel", compiled.Source, StringComparison.Ordinal);
    }

    /// <summary>Every public static void method without by-ref parameters in the kernels assembly's public classes.</summary>
    private static IEnumerable<MethodInfo> KernelMethods() =>
        typeof(ElementwiseKernels).Assembly.GetExportedTypes()
            .Where(t => t.IsClass && t.IsAbstract && t.IsSealed)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Where(m => m.ReturnType == typeof(void) && m.GetParameters().All(p => !p.ParameterType.IsByRef))
            .OrderBy(m => m.DeclaringType!.Name, StringComparer.Ordinal).ThenBy(m => m.Name, StringComparer.Ordinal);

    private static EntryPointDescription EntryPoint(string kernel)
    {
        var method = KernelMethods().Single(m => $"{m.DeclaringType!.Name}.{m.Name}" == kernel);
        var parameters = method.GetParameters();
        // Per-element kernels take an Index1D first and are launched implicitly grouped; the others take a KernelConfig.
        return parameters.Length > 0 && parameters[0].ParameterType == typeof(Index1D)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(method);
    }
}
