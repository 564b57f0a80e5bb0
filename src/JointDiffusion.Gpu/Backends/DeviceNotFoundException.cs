namespace JointDiffusion.Gpu.Backends;

/// <summary>Thrown when a forced <c>--device</c> is absent or unusable on this machine.</summary>
public sealed class DeviceNotFoundException : Exception
{
    /// <summary>Creates the exception with a message saying what is missing and what to use instead.</summary>
    public DeviceNotFoundException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with an inner cause.</summary>
    public DeviceNotFoundException(string message, Exception inner) : base(message, inner)
    {
    }
}
