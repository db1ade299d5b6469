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
}
