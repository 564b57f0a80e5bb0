using System.Diagnostics;
using System.Globalization;

namespace JointDiffusion.Gpu.Tests.Reliability;

/// <summary>
/// What a leak of backends, contexts, accelerators or buffers would grow: live managed memory (after a full
/// collection with finalizers run), native resident memory (resident memory less the GC heap's committed memory:
/// written native buffers, without the noise of the GC decommitting free regions), threads (each ILGPU CPU
/// accelerator runs its own) and open file descriptors (Linux; driver handles).
/// </summary>
internal readonly record struct LeakProbe(long ManagedBytes, long ResidentBytes, int Threads, int FileDescriptors)
{
    /// <summary>Collects garbage (twice, so that finalizers' frees are done) and measures.</summary>
    public static LeakProbe Measure()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        using var process = Process.GetCurrentProcess();
        int descriptors = Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : 0;
        long managed = GC.GetTotalMemory(forceFullCollection: true);
        long native = Resident() - GC.GetGCMemoryInfo().TotalCommittedBytes;
        return new LeakProbe(managed, native, process.Threads.Count, descriptors);
    }

    /// <summary>Fails when any measure grew past its allowance from <paramref name="before"/> to this one.</summary>
    public void AssertGrowthWithin(LeakProbe before, long managedBytes, long residentBytes, int threads, int fileDescriptors, string what)
    {
        var problems = new List<string>();
        Check("live managed memory", ManagedBytes - before.ManagedBytes, managedBytes);
        Check("native resident memory", ResidentBytes - before.ResidentBytes, residentBytes);
        Check("threads", Threads - before.Threads, threads);
        Check("open file descriptors", FileDescriptors - before.FileDescriptors, fileDescriptors);
        Assert.True(problems.Count == 0, $"{what}: {string.Join("; ", problems)}");

        void Check(string name, long growth, long allowed)
        {
            if (growth > allowed)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"{name} grew by {growth} (allowed {allowed})"));
            }
        }
    }

    /// <summary>Resident set size from /proc/self/statm (pages × page size); the working set elsewhere.</summary>
    private static long Resident()
    {
        if (!File.Exists("/proc/self/statm"))
        {
            return Environment.WorkingSet;
        }

        string[] fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }
}
