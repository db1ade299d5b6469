namespace Parley.Server.Messaging;

/// <summary>Whether a user may reference a file in a message they send (implemented by the files feature).</summary>
public interface IFileAccess
{
    ValueTask<bool> CanUseAsync(long userId, long fileId, CancellationToken cancellationToken);

    /// <summary>True when the file exists, the user may use it and it is an image (avatars).</summary>
    Task<bool> IsUsableImageAsync(long userId, long fileId, CancellationToken cancellationToken);
}
