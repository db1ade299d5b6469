using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Accounts;

/// <summary>The failed-login throttle's bookkeeping, on a clock moved by hand.</summary>
[Trait("Tier", "Unit")]
public sealed class AuthThrottleTests
{
    /// <summary>
    /// Each refused attempt used to add a window for its username: one address sending logins for random usernames
    /// (no account needed) grew the table at request rate, 1.3 million windows and +360 MB of RSS in a minute, kept
    /// for the whole window. Refused attempts now add nothing.
    /// </summary>
    [Fact]
    public void Attempts_refused_for_the_address_add_no_windows()
    {
        var time = new ManualTime();
        using var throttle = new AuthThrottle(Options.Create(new AuthOptions { LoginFailuresPerAddress = 5, LoginFailuresPerUsername = 3 }), time);
        for (var i = 0; i < 5; i++)
        {
            Assert.Null(throttle.TryBeginLogin($"user{i}", "203.0.113.7"));
        }

        var windows = throttle.WindowCount;
        Assert.Equal(6, windows); // five usernames and the address
        for (var i = 0; i < 10_000; i++)
        {
            Assert.NotNull(throttle.TryBeginLogin($"random{i}", "203.0.113.7"));
        }

        Assert.Equal(windows, throttle.WindowCount);

        // The same for a username at its limit, tried from addresses never seen.
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(throttle.TryBeginLogin("victim", $"198.51.100.{i}"));
        }

        windows = throttle.WindowCount;
        for (var i = 3; i < 250; i++)
        {
            Assert.NotNull(throttle.TryBeginLogin("victim", $"198.51.100.{i}"));
        }

        Assert.Equal(windows, throttle.WindowCount);

        // Still counted as before: another address may try, and the window's end lets the refused address in again.
        Assert.Null(throttle.TryBeginLogin("someone", "192.0.2.1"));
        time.Advance(TimeSpan.FromSeconds(new AuthOptions().LoginFailureWindowSeconds));
        Assert.Null(throttle.TryBeginLogin("random0", "203.0.113.7"));
    }
}
