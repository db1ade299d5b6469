using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Parley.Server.Http;

namespace Parley.Server.Files;

/// <summary>
/// Per user: uploads started per minute (a token bucket of <see cref="FileUploadOptions.UploadsPerMinute"/>, the
/// shared <see cref="TokenBuckets"/>) and uploads streaming at once (<see cref="FileUploadOptions.ConcurrentUploadsPerUser"/>).
/// In memory and per node; the byte quota, which must hold across restarts and nodes, is counted from the files
/// table instead. Memory: a bucket per user who started an upload recently (dropped when full again) and a
/// counter per user with an upload streaming (dropped when it is back to none).
/// </summary>
public sealed class UploadGuard : IDisposable
{
    private readonly ConcurrentDictionary<long, Streaming> _streaming = new();
    private readonly TokenBuckets _starts;
    private readonly int _perMinute;
    private readonly int _atOnce;

    public UploadGuard(IOptions<FileUploadOptions> options, TimeProvider time)
    {
        _perMinute = Math.Max(1, options.Value.UploadsPerMinute);
        _atOnce = Math.Max(1, options.Value.ConcurrentUploadsPerUser);
        _starts = new TokenBuckets(_perMinute / 60.0, _perMinute, time);
    }

    internal int UsersStreaming => _streaming.Count;

    /// <summary>Null when the upload may start (then <see cref="Done"/> must follow), else why not and for how long.</summary>
    public (string Message, int Seconds)? TryStart(long userId)
    {
        while (true)
        {
            var streaming = _streaming.GetOrAdd(userId, static _ => new Streaming());
            lock (streaming)
            {
                if (!_streaming.TryGetValue(userId, out var current) || !ReferenceEquals(current, streaming))
                {
                    continue; // dropped meanwhile by Done: take the new one
                }

                if (streaming.Count >= _atOnce)
                {
                    return ($"At most {_atOnce} uploads at once; wait for one to finish.", 1);
                }

                if (!_starts.TryTake(userId, out var left))
                {
                    Forget(userId, streaming);
                    return ($"At most {_perMinute} uploads per minute; try again shortly.", _starts.SecondsUntilToken(left));
                }

                streaming.Count++;
                return null;
            }
        }
    }

    public void Done(long userId)
    {
        if (_streaming.TryGetValue(userId, out var streaming))
        {
            lock (streaming)
            {
                streaming.Count = Math.Max(0, streaming.Count - 1);
                Forget(userId, streaming);
            }
        }
    }

    public void Dispose() => _starts.Dispose();

    /// <summary>Drops the user's counter when nothing streams (called under its lock).</summary>
    private void Forget(long userId, Streaming streaming)
    {
        if (streaming.Count == 0)
        {
            _streaming.TryRemove(new KeyValuePair<long, Streaming>(userId, streaming));
        }
    }

    private sealed class Streaming
    {
        public int Count;
    }
}
