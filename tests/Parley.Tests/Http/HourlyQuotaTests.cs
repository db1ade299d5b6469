using Parley.Server.Http;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Http;

/// <summary>The hourly quota's bookkeeping, on a clock moved by hand.</summary>
[Trait("Tier", "Unit")]
public sealed class HourlyQuotaTests
{
    [Fact]
    public void A_user_holds_at_most_the_limit_and_idle_users_are_forgotten()
    {
        var time = new ManualTime();
        using var quota = new HourlyQuota(3, time);
        for (var i = 0; i < 10_000; i++)
        {
            Assert.Equal(i < 3 ? null : 3600, quota.TryTake(1));
        }

        for (long user = 2; user < 1_002; user++)
        {
            Assert.Null(quota.TryTake(user));
        }

        Assert.Equal(1_001, quota.UserCount);
        time.Advance(TimeSpan.FromMinutes(59));
        quota.Purge();
        Assert.Equal(1_001, quota.UserCount);
        time.Advance(TimeSpan.FromMinutes(1));
        quota.Purge();
        Assert.Equal(0, quota.UserCount);
        Assert.Null(quota.TryTake(1)); // a forgotten user starts afresh
    }

    [Fact]
    public void A_refund_gives_the_slot_back_and_zero_means_no_limit()
    {
        var time = new ManualTime();
        using var quota = new HourlyQuota(1, time);
        Assert.Null(quota.TryTake(7));
        quota.Refund(7); // the action did not happen after all
        Assert.Null(quota.TryTake(7));
        Assert.NotNull(quota.TryTake(7));

        using var off = new HourlyQuota(0, time);
        for (var i = 0; i < 1_000; i++)
        {
            Assert.Null(off.TryTake(7));
        }

        Assert.Equal(0, off.UserCount);
    }
}
