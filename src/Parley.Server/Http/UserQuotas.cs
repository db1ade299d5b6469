using Microsoft.Extensions.Options;
using Parley.Server.Groups;
using Parley.Server.Social;

namespace Parley.Server.Http;

/// <summary>The per-user hourly limits on actions that reach other people: creating groups (<c>Groups:CreationsPerHour</c>),
/// friend requests (<c>Social:FriendRequestsPerHour</c>) and join requests (<c>Groups:JoinRequestsPerHour</c>).</summary>
public sealed class UserQuotas(IOptions<GroupOptions> groups, IOptions<SocialOptions> social, TimeProvider time) : IDisposable
{
    public HourlyQuota GroupCreations { get; } = new(groups.Value.CreationsPerHour, time);

    public HourlyQuota FriendRequests { get; } = new(social.Value.FriendRequestsPerHour, time);

    public HourlyQuota JoinRequests { get; } = new(groups.Value.JoinRequestsPerHour, time);

    /// <summary>The 429 for an exhausted quota.</summary>
    public static ApiException Limited(string detail, int retryAfterSeconds) =>
        new(429, ErrorCodes.RateLimited, detail) { RetryAfterSeconds = retryAfterSeconds };

    public void Dispose()
    {
        GroupCreations.Dispose();
        FriendRequests.Dispose();
        JoinRequests.Dispose();
    }
}
