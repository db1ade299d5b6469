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
        Assert.Equal(11, windows); // five usernames, each with this address, and the address
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

    /// <summary>
    /// Anyone could lock any account for the window with ten wrong passwords. Now a username's failures only slow
    /// down attempts from addresses the user never logged in from, 1, 2, 4, ... seconds apart (capped), and the owner on
    /// a known address is not slowed at all.
    /// </summary>
    [Fact]
    public void Failures_of_a_username_slow_strangers_down_without_locking_out_the_owner()
    {
        var time = new ManualTime();
        var options = new AuthOptions { LoginFailuresPerUsername = 3, LoginFailuresPerUsernameAndAddress = 2, LoginFailuresPerAddress = 1000, LoginSlowdownMaxSeconds = 8 };
        using var throttle = new AuthThrottle(Options.Create(options), time);
        Assert.Null(throttle.TryBeginLogin("victim", "192.0.2.10"));
        throttle.LoginSucceeded("victim", "192.0.2.10"); // the owner's address is known from now on

        // An attacker from fresh addresses: three failures at full speed, then each further one waits twice as long.
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(throttle.TryBeginLogin("victim", $"198.51.100.{i}"));
        }

        var waits = new List<int>();
        for (var i = 3; i < 9; i++)
        {
            var address = $"198.51.100.{i}";
            var wait = throttle.TryBeginLogin("victim", address);
            Assert.NotNull(wait);
            waits.Add(wait.Value);
            time.Advance(TimeSpan.FromSeconds(wait.Value));
            Assert.Null(throttle.TryBeginLogin("victim", address)); // let in once the pause is over: slowed, never locked
        }

        Assert.Equal([1, 2, 4, 8, 8, 8], waits);

        // The owner, on the known address, is not slowed; a new device of theirs is slowed like anyone, not refused for good.
        Assert.Null(throttle.TryBeginLogin("victim", "192.0.2.10"));
        throttle.LoginSucceeded("victim", "192.0.2.10");
        var newDevice = throttle.TryBeginLogin("victim", "203.0.113.99");
        Assert.InRange(newDevice ?? 0, 1, 8);

        // One address is held to its hard limit for the username whatever it knows.
        Assert.Null(throttle.TryBeginLogin("other", "192.0.2.20"));
        Assert.Null(throttle.TryBeginLogin("other", "192.0.2.20"));
        Assert.NotNull(throttle.TryBeginLogin("other", "192.0.2.20"));
        Assert.Null(throttle.TryBeginLogin("other", "192.0.2.21"));
    }

    [Fact]
    public void A_success_from_a_known_address_gives_an_attacker_no_fresh_allowance()
    {
        var time = new ManualTime();
        var options = new AuthOptions { LoginFailuresPerUsername = 2, LoginFailuresPerUsernameAndAddress = 100, LoginFailuresPerAddress = 1000, LoginSlowdownMaxSeconds = 60 };
        using var throttle = new AuthThrottle(Options.Create(options), time);
        Assert.Null(throttle.TryBeginLogin("victim", "192.0.2.10"));
        throttle.LoginSucceeded("victim", "192.0.2.10");
        Assert.Null(throttle.TryBeginLogin("victim", "198.51.100.1"));
        Assert.Null(throttle.TryBeginLogin("victim", "198.51.100.2"));
        Assert.NotNull(throttle.TryBeginLogin("victim", "198.51.100.3"));

        Assert.Null(throttle.TryBeginLogin("victim", "192.0.2.10"));
        throttle.LoginSucceeded("victim", "192.0.2.10");
        Assert.NotNull(throttle.TryBeginLogin("victim", "198.51.100.3"));
        Assert.Equal(1, throttle.KnownUserCount);
    }
}
