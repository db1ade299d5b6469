namespace Parley.Server.Social;

/// <summary>Settings section <c>Social</c>.</summary>
public sealed class SocialOptions
{
    public const string Section = "Social";

    /// <summary>New friend requests one user may send in any hour before 429 <c>rate_limited</c> (0: no limit).</summary>
    public int FriendRequestsPerHour { get; set; } = 30;

    /// <summary>Hours after a user declined a request before its sender may ask them again (0: no cooldown).</summary>
    public double RerequestCooldownHours { get; set; } = 24;

    /// <summary>
    /// At most this many users are told live (<c>user.updated</c>) that a user's nickname or avatar changed: friends first,
    /// then co-members, smallest group first, whole groups only. The rest see it when they next load the profile.
    /// </summary>
    public int ProfileUpdateMaxRecipients { get; set; } = 5000;

    /// <summary>
    /// Announced profile changes (nickname or avatar: each fans out to up to <see cref="ProfileUpdateMaxRecipients"/> users)
    /// one user may make in any sliding hour before 429 <c>rate_limited</c> (0: no limit). Other profile edits are not counted.
    /// </summary>
    public int ProfileChangesPerHour { get; set; } = 30;
}
