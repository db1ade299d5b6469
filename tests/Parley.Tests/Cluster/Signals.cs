using System.Diagnostics;

namespace Parley.Tests.Cluster;

/// <summary>
/// POSIX signals to processes a test started itself (TERM for a graceful stop, STOP/CONT to freeze one), sent with
/// kill(1): .NET has no API for a signal other than SIGKILL.
/// </summary>
public static class Signals
{
    public static void Send(int pid, string signal)
    {
        var start = new ProcessStartInfo("kill") { UseShellExecute = false, RedirectStandardError = true };
        start.ArgumentList.Add("-" + signal);
        start.ArgumentList.Add(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var kill = Process.Start(start) ?? throw new InvalidOperationException("could not run kill");
        if (!kill.WaitForExit(TimeSpan.FromSeconds(10)) || kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {pid} failed: {kill.StandardError.ReadToEnd()}");
        }
    }
}
