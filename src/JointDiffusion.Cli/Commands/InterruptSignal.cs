using System.Runtime.InteropServices;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// Turns Ctrl-C (SIGINT) and SIGTERM (what schedulers send) into a cancellation token for the lifetime of this
/// object, instead of the runtime's default termination, so long commands can save what they finished and exit
/// with <see cref="ExitCodes.Interrupted"/>. Create it before anything is opened or printed.
/// </summary>
internal sealed class InterruptSignal : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly PosixSignalRegistration _sigint, _sigterm;

    /// <summary>Registers the handlers; <paramref name="linked"/> (e.g. a test's token) cancels the token too.</summary>
    public InterruptSignal(CancellationToken linked = default)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(linked);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled when a signal arrives (or the linked token is cancelled).</summary>
    public CancellationToken Token => _source.Token;

    /// <inheritdoc/>
    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _source.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _source.Cancel();
    }
}
