using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Parley.Server.Files;

/// <summary>
/// Per user: uploads started per minute (a token bucket of <see cref="FileUploadOptions.UploadsPerMinute"/>) and
/// uploads streaming at once (<see cref="FileUploadOptions.ConcurrentUploadsPerUser"/>). In memory and per node;
/// the byte quota, which must hold across restarts and nodes, is counted from the files table instead.
/// </summary>
public sealed class UploadGuard
{
    private readonly ConcurrentDictionary<long, State> _users = new();
    private readonly FileUploadOptions _options;
    private readonly TimeProvider _time;

    public UploadGuard(IOptions<FileUploadOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
    }

    /// <summary>Null when the upload may start (then <see cref="Done"/> must follow), else why not and for how long.</summary>
    public (string Message, int Seconds)? TryStart(long userId)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var perMinute = Math.Max(1, _options.UploadsPerMinute);
        if (_users.Count > 100_000)
        {
            Trim(now);
        }

        var state = _users.GetOrAdd(userId, static (_, start) => new State(start), (perMinute, now));
        lock (state)
        {
            state.Tokens = Math.Min(perMinute, state.Tokens + ((now - state.Stamp) * perMinute / 60_000.0));
            state.Stamp = now;
            if (state.InFlight >= Math.Max(1, _options.ConcurrentUploadsPerUser))
            {
                return ($"At most {_options.ConcurrentUploadsPerUser} uploads at once; wait for one to finish.", 1);
            }

            if (state.Tokens < 1)
            {
                return ($"At most {perMinute} uploads per minute; try again shortly.", (int)Math.Ceiling((1 - state.Tokens) * 60.0 / perMinute));
            }

            state.Tokens -= 1;
            state.InFlight++;
            return null;
        }
    }

    public void Done(long userId)
    {
        if (_users.TryGetValue(userId, out var state))
        {
            lock (state)
            {
                state.InFlight = Math.Max(0, state.InFlight - 1);
            }
        }
    }

    /// <summary>Drops users with a full bucket and nothing in flight: they are as if never seen.</summary>
    private void Trim(long now)
    {
        var perMinute = Math.Max(1, _options.UploadsPerMinute);
        foreach (var (userId, state) in _users)
        {
            lock (state)
            {
                if (state.InFlight == 0 && state.Tokens + ((now - state.Stamp) * perMinute / 60_000.0) >= perMinute)
                {
                    _users.TryRemove(new KeyValuePair<long, State>(userId, state));
                }
            }
        }
    }

    private sealed class State((int Tokens, long Now) start)
    {
        public double Tokens = start.Tokens;
        public long Stamp = start.Now;
        public int InFlight;
    }
}
