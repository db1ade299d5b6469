using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Parley.Bench;

/// <summary>
/// Waits until a Stopwatch timestamp on a thread of its own, precise to tens of microseconds without spinning:
/// Linux's nanosleep (its default timer slack is 50 us). <c>Task.Delay(1)</c>, which the open loop used before,
/// woke every 10-15 ms on this machine, so messages left in bursts up to that late and every lat figure carried
/// the tool's own lateness (7 ms at p50 at 200 msg/s). The scheduler's lateness is now measured and reported.
/// </summary>
internal static partial class OpenLoopClock
{
    public static void WaitUntil(long timestamp)
    {
        var remaining = timestamp - Stopwatch.GetTimestamp();
        if (remaining <= 0)
        {
            return;
        }

        var nanoseconds = remaining * 1_000_000_000 / Stopwatch.Frequency;
        if (!OperatingSystem.IsLinux())
        {
            Thread.Sleep(TimeSpan.FromTicks(Math.Max(1, nanoseconds / 100)));
            return;
        }

        var request = new Timespec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
        _ = NanoSleep(ref request, IntPtr.Zero); // interrupted early: the caller's loop checks the time again
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "nanosleep", SetLastError = true)]
    private static partial int NanoSleep(ref Timespec request, IntPtr remaining);
}
