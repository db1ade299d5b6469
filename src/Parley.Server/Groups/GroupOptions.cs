namespace Parley.Server.Groups;

/// <summary>Settings section <c>Groups</c>.</summary>
public sealed class GroupOptions
{
    public const string Section = "Groups";

    /// <summary>Idle time after which a temporary group is deleted, when the creator gives none.</summary>
    public long DefaultIdleTtlSeconds { get; set; } = 86_400;

    /// <summary>How often the sweeper looks for expired temporary groups.</summary>
    public int SweepIntervalSeconds { get; set; } = 60;

    /// <summary>Most user ids accepted in one create or add-members call.</summary>
    public int MaxMembersPerCall { get; set; } = 100;

    /// <summary>Group or conversation lookups that find nothing (404), and wrong invite codes, per user per minute
    /// sustained, before 429 (slows the enumeration of ids).</summary>
    public double LookupMissesPerMinute { get; set; } = 20;

    /// <summary>Such misses allowed at once.</summary>
    public int LookupMissBurst { get; set; } = 40;

    /// <summary>Default lifetime of an invite code when its creator gives none.</summary>
    public long InviteCodeDefaultTtlSeconds { get; set; } = 604_800;

    /// <summary>Live (unexpired, not used up) invite codes a group may have at once.</summary>
    public int MaxInviteCodesPerGroup { get; set; } = 100;

    /// <summary>Groups one user may create in any hour before 429 <c>rate_limited</c> (0: no limit).</summary>
    public int CreationsPerHour { get; set; } = 20;

    /// <summary>Join requests (to groups that need approval) one user may make in any hour before 429 (0: no limit).</summary>
    public int JoinRequestsPerHour { get; set; } = 30;
}
