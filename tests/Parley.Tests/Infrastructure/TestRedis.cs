namespace Parley.Tests.Infrastructure;

/// <summary>
/// The suite's Redis (the cluster bus), named by <c>PARLEY_TEST_REDIS</c> as test.sh sets it: the twin of
/// <see cref="TestStore"/>'s PostgreSQL variable, and the cluster tier's one skip rule.
/// </summary>
public static class TestRedis
{
    public const string Variable = "PARLEY_TEST_REDIS";

    /// <summary>The StackExchange.Redis configuration string, or null when none is set.</summary>
    public static string? Configuration => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    /// <summary>Why a cluster test cannot run here (it needs both PostgreSQL and Redis), or null when it can.</summary>
    public static string? ClusterSkipReason =>
        TestStore.PostgresAdminConnectionString is null || Configuration is null
            ? $"cluster test skipped: it needs both {TestStore.PostgresVariable} and {Variable} (.ci/run sets them)."
            : null;

    /// <summary>Skips the calling test unless PostgreSQL and Redis are both there.</summary>
    public static void SkipUnlessCluster() => Assert.SkipWhen(ClusterSkipReason is not null, ClusterSkipReason ?? "");
}
