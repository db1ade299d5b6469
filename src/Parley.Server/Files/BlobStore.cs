using Parley.Storage;

namespace Parley.Server.Files;

/// <summary>Where file bytes live, by blob key. An interface so an S3-compatible store can be added.</summary>
public interface IBlobStore
{
    /// <summary>Moves a finished temporary file in as <paramref name="blobKey"/> (keys are never reused).</summary>
    Task PutAsync(string blobKey, string tempPath, CancellationToken cancellationToken);

    /// <summary>The blob's local path, for serving with range support; null when it is gone.</summary>
    string? LocalPath(string blobKey);

    Stream OpenRead(string blobKey);

    Task DeleteAsync(string blobKey, CancellationToken cancellationToken);

    /// <summary>A fresh path for an upload in progress, on the same volume as the blobs.</summary>
    string NewTempPath();

    /// <summary>Every blob written before <paramref name="cutoff"/> (the sweeper looks for bytes without a record).</summary>
    IEnumerable<string> ListWrittenBefore(DateTimeOffset cutoff);

    /// <summary>Deletes temporary upload files left before <paramref name="cutoff"/> (by a crash); returns how many.</summary>
    int DeleteStaleTemporaryFiles(DateTimeOffset cutoff);
}

/// <summary>Blobs as files under DataDir/blobs/ab/cd/&lt;key&gt;, written by rename so a blob is never half there.</summary>
public sealed class LocalBlobStore : IBlobStore
{
    private readonly string _root;
    private readonly string _temp;

    public LocalBlobStore(string dataDir)
    {
        _root = Path.Combine(dataDir, "blobs");
        _temp = Path.Combine(dataDir, "uploads");
        PrivateFiles.CreateDirectory(_root);
        PrivateFiles.CreateDirectory(_temp);
    }

    public Task PutAsync(string blobKey, string tempPath, CancellationToken cancellationToken)
    {
        var path = PathOf(blobKey);
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Move(tempPath, path, overwrite: true); // keeps the temporary file's 0600
        return Task.CompletedTask;
    }

    public string? LocalPath(string blobKey)
    {
        var path = PathOf(blobKey);
        return File.Exists(path) ? path : null;
    }

    public Stream OpenRead(string blobKey) =>
        new FileStream(PathOf(blobKey), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);

    public Task DeleteAsync(string blobKey, CancellationToken cancellationToken)
    {
        File.Delete(PathOf(blobKey));
        return Task.CompletedTask;
    }

    public string NewTempPath() => Path.Combine(_temp, Guid.NewGuid().ToString("N") + ".part");

    public IEnumerable<string> ListWrittenBefore(DateTimeOffset cutoff)
    {
        foreach (var path in Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories))
        {
            var info = new FileInfo(path);
            if (info.Exists && info.LastWriteTimeUtc < cutoff.UtcDateTime && IsKey(info.Name))
            {
                yield return info.Name;
            }
        }
    }

    public int DeleteStaleTemporaryFiles(DateTimeOffset cutoff)
    {
        var deleted = 0;
        foreach (var path in Directory.EnumerateFiles(_temp, "*.part"))
        {
            if (File.GetLastWriteTimeUtc(path) < cutoff.UtcDateTime)
            {
                File.Delete(path);
                deleted++;
            }
        }

        return deleted;
    }

    private static bool IsKey(string name) => name.Length >= 8 && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');

    private string PathOf(string blobKey)
    {
        // Keys are made by this server from hex digests; refuse anything else rather than trust a path.
        if (!IsKey(blobKey))
        {
            throw new ArgumentException("Not a blob key.", nameof(blobKey));
        }

        return Path.Combine(_root, blobKey[..2], blobKey[2..4], blobKey);
    }
}
