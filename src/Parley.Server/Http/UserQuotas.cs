using Microsoft.Extensions.Options;
using Parley.Server.Cluster;
using Parley.Server.Groups;
using Parley.Server.Social;

namespace Parley.Server.Http;

/// <summary>The per-user hourly limits on actions that reach other people: creating groups (<c>Groups:CreationsPerHour</c>),
/// friend requests (<c>Social:FriendRequestsPerHour</c>), join requests (<c>Groups:JoinRequestsPerHour</c>) and
/// announced profile changes (<c>Social:ProfileChangesPerHour</c>); in
/// cluster mode (<paramref name="shared"/>) they hold across nodes.</summary>
public sealed class UserQuotas(IOptions<GroupOptions> groups, IOptions<SocialOptions> social, TimeProvider time, SharedLimits? shared = null) : IDisposable
{
    public HourlyQuota GroupCreations { get; } = new(groups.Value.CreationsPerHour, time, shared, "groups");

    public HourlyQuota FriendRequests { get; } = new(social.Value.FriendRequestsPerHour, time, shared, "friends");

    public HourlyQuota JoinRequests { get; } = new(groups.Value.JoinRequestsPerHour, time, shared, "joins");

    /// <summary>Nickname and avatar changes (<c>Social:ProfileChangesPerHour</c>): each is announced to many users.</summary>
    public HourlyQuota ProfileChanges { get; } = new(social.Value.ProfileChangesPerHour, time, shared, "profile");

    /// <summary>The 429 for an exhausted quota.</summary>
    public static ApiException Limited(string detail, int retryAfterSeconds) =>
        new(429, ErrorCodes.RateLimited, detail) { RetryAfterSeconds = retryAfterSeconds };

    public void Dispose()
    {
        GroupCreations.Dispose();
        FriendRequests.Dispose();
        JoinRequests.Dispose();
        ProfileChanges.Dispose();
    }
}
