namespace Parley.Server.Messaging;

/// <summary>Whether a user may reference a file in a message they send.</summary>
public interface IFileAccess
{
    ValueTask<bool> CanUseAsync(long userId, long fileId, CancellationToken cancellationToken);
}

/// <summary>
/// Until Parley stores files (the files feature), no file exists, so no message may reference one: image,
/// file, audio and video messages and link previews with an image are refused with a clear error.
/// </summary>
public sealed class NoFilesYet : IFileAccess
{
    public ValueTask<bool> CanUseAsync(long userId, long fileId, CancellationToken cancellationToken) => ValueTask.FromResult(false);
}
