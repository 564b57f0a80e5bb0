using System.Globalization;

namespace JointDiffusion.Gpu.Backends;

/// <summary>
/// Thrown when a backend cannot allocate a tensor's memory, even after freeing its idle pooled buffers. The
/// message says how much was asked for, how much this backend already held and what the device has, and what to
/// make smaller, e.g. <c>Out of memory on cuda (NVIDIA H200): 2.0 GiB more could not be allocated; this run
/// already held 130.5 GiB of the device's 139.8 GiB. Try a smaller --batch (about half), fewer samples, or a
/// smaller image size.</c> Callers that know the batch size (the CLI) add the batch to try.
/// </summary>
public sealed class DeviceOutOfMemoryException : Exception
{
    /// <summary>Creates the exception for a failed allocation on <paramref name="device"/>.</summary>
    /// <param name="device">The backend's name and device, for the message.</param>
    /// <param name="requestedBytes">The size of the allocation that failed.</param>
    /// <param name="heldBytes">Device memory this backend held at the time (rented tensors).</param>
    /// <param name="deviceBytes">The device's memory, or 0 when it reports none (the CPU).</param>
    /// <param name="inner">The driver's error, or null when the request was refused before asking it.</param>
    public DeviceOutOfMemoryException(string device, long requestedBytes, long heldBytes, long deviceBytes, Exception? inner = null)
        : base(Compose(device, requestedBytes, heldBytes, deviceBytes), inner)
    {
        RequestedBytes = requestedBytes;
        HeldBytes = heldBytes;
        DeviceBytes = deviceBytes;
    }

    /// <summary>The size of the allocation that failed, in bytes.</summary>
    public long RequestedBytes { get; }

    /// <summary>Device memory this backend already held (tensors in use), in bytes.</summary>
    public long HeldBytes { get; }

    /// <summary>The device's memory in bytes, or 0 when the device does not report one.</summary>
    public long DeviceBytes { get; }

    /// <summary>Bytes as text in the largest binary unit that keeps the number ≥ 1, e.g. <c>2.0 GiB</c>.</summary>
    public static string FormatBytes(long bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"{value:F1} {units[unit]}");
    }

    private static string Compose(string device, long requested, long held, long total)
    {
        string of = total > 0 ? $" of the device's {FormatBytes(total)}" : string.Empty;
        return $"Out of memory on {device}: {FormatBytes(requested)} more could not be allocated; this run already held {FormatBytes(held)}{of}. " +
            "Try a smaller --batch (about half), fewer samples, or a smaller image size.";
    }
}
