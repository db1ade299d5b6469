using System.Text.Json;
using Microsoft.Extensions.Options;
using Parley.Server.Events;
using Parley.Server.Http;
using Parley.Server.Social;
using Parley.Storage.Accounts;
using Parley.Storage.Social;

namespace Parley.Server.Accounts;

/// <summary>
/// Tells the people who show a user's profile that it changed (<c>notify</c> <c>user.updated</c> with the public user):
/// the user's own devices, their friends and their groups' co-members, bounded by
/// <see cref="SocialOptions.ProfileUpdateMaxRecipients"/>. Published after the change committed, through the notifier,
/// so it takes the post-commit route and, in cluster mode, the bus to the recipients' nodes.
/// </summary>
public sealed partial class ProfileUpdates(SocialStore social, Notifier notifier, IOptions<SocialOptions> options, ILogger<ProfileUpdates> logger)
{
    private readonly int _max = Math.Max(0, options.Value.ProfileUpdateMaxRecipients);

    /// <summary>Only a nickname or avatar change is announced (bio and tags are read with the profile).</summary>
    public static bool Announced(UserRow before, UserRow after) =>
        before.Nickname != after.Nickname || before.AvatarFileId != after.AvatarFileId;

    public async Task PublishAsync(UserRow before, UserRow after)
    {
        if (!Announced(before, after))
        {
            return;
        }

        IReadOnlyList<long> audience = [];
        try
        {
            // Not the request's token: the change is committed, so a client that hung up does not stop the news.
            audience = await social.ProfileAudienceAsync(after.Id, _max, CancellationToken.None);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Live delivery is best effort: the profile is read fresh on the next load.
            LogAudienceFailed(logger, e);
        }

        var data = JsonSerializer.SerializeToElement(new UserUpdatedData(PublicUser.From(after)), ParleyJson.Default.UserUpdatedData);
        notifier.Publish(NotifyKinds.UserUpdated, data, audience.Prepend(after.Id));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not find who to tell of a profile change; only the user's own devices are told")]
    private static partial void LogAudienceFailed(ILogger logger, Exception exception);
}
