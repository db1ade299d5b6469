using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Parley.Server.Http;

namespace Parley.Server.Moderation;

/// <summary>Settings of the blocked-words filter (section <c>Moderation</c>).</summary>
public sealed class ModerationOptions
{
    public const string Section = "Moderation";

    /// <summary>A UTF-8 file, one word or phrase per line (blank lines and lines starting with # are skipped); empty (the default): no filter.</summary>
    public string BlockedWords { get; set; } = "";

    /// <summary><c>reject</c> (403 <c>rejected</c>, the default) or <c>mask</c> (each matched character becomes <c>*</c>).</summary>
    public string Action { get; set; } = "reject";

    /// <summary>How often the file is checked for a change that the file-system watcher missed.</summary>
    public int ReloadCheckSeconds { get; set; } = 10;

    /// <summary>The largest file read; a bigger one is refused (the previous list stays).</summary>
    public long MaxFileBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>How many reports a user may make per hour (<c>POST .../report</c>).</summary>
    public int ReportsPerHour { get; set; } = 20;
}

/// <summary>
/// Applies <c>Moderation:BlockedWords</c> to text messages, nicknames, group names and announcements. The file is
/// watched (a FileSystemWatcher, plus a periodic check of its size, time and content hash for what the watcher
/// misses) and reloaded when it changes; a file that is missing, unreadable or too big keeps the last list that was
/// read, and never stops the server. With no file configured <see cref="Active"/> is false and nothing else runs.
/// </summary>
public sealed partial class Moderator : IDisposable
{
    private const int MaxWordLength = 256;
    private const int MaxWords = 200_000;

    private readonly string? _path;
    private readonly long _maxBytes;
    private readonly ILogger<Moderator> _logger;
    private readonly Lock _reloading = new();
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer? _timer;
    private volatile BlockedWords _words = BlockedWords.Empty;
    private byte[]? _loadedHash;
    private (long Length, DateTime WrittenAt)? _seen;
    private string? _lastProblem;

    public Moderator(IOptions<ModerationOptions> options, TimeProvider time, ILogger<Moderator> logger)
    {
        _logger = logger;
        var o = options.Value;
        Masks = o.Action.Trim().ToLowerInvariant() switch
        {
            "reject" or "" => false,
            "mask" => true,
            _ => throw new InvalidOperationException("Moderation:Action must be reject or mask."),
        };
        _maxBytes = o.MaxFileBytes;
        if (string.IsNullOrWhiteSpace(o.BlockedWords))
        {
            return;
        }

        _path = Path.GetFullPath(o.BlockedWords.Trim(), Environment.CurrentDirectory);
        Reload(force: true);
        try
        {
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path)!, Path.GetFileName(_path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            _watcher.Changed += (_, _) => Reload(force: true);
            _watcher.Created += (_, _) => Reload(force: true);
            _watcher.Renamed += (_, _) => Reload(force: true);
            _watcher.Deleted += (_, _) => Reload(force: true);
            _watcher.Error += (_, _) => Reload(force: true);
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is ArgumentException or IOException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            _watcher?.Dispose();
            _watcher = null; // the directory is missing or not watchable: the periodic check still sees changes
        }

        var every = TimeSpan.FromSeconds(Math.Max(1, o.ReloadCheckSeconds));
        _timer = time.CreateTimer(_ => Reload(force: false), null, every, every);
    }

    /// <summary>Whether a non-empty list is loaded: callers skip moderation entirely when not.</summary>
    public bool Active => _words.Count > 0;

    /// <summary>True for <c>mask</c>, false for <c>reject</c>.</summary>
    public bool Masks { get; }

    /// <summary>How many words are loaded.</summary>
    public int WordCount => _words.Count;

    public static readonly Refusal Rejected = Refusal.Forbidden("The text contains a blocked word.", ErrorCodes.Rejected);

    /// <summary>
    /// The text to store: unchanged when clean, masked in mask mode; null in reject mode when it holds a blocked
    /// word (answer <see cref="Rejected"/>).
    /// </summary>
    public string? Check(string text)
    {
        var words = _words;
        if (words.Count == 0)
        {
            return text;
        }

        return Masks ? words.Mask(text) : words.Matches(text) ? null : text;
    }

    /// <summary>Whether the text holds a blocked word (no allocation).</summary>
    public bool Matches(ReadOnlySpan<char> text) => _words.Matches(text);

    /// <summary><see cref="Check"/> for the control plane: throws 403 <c>rejected</c> naming the field.</summary>
    public string Apply(string field, string text) =>
        Check(text) ?? throw new ApiException(403, ErrorCodes.Rejected, $"{field}: contains a blocked word.");

    /// <summary>
    /// Reads the file again if it changed; keeps the current list on any problem. Without <paramref name="force"/>
    /// (the periodic check) an unchanged size and write time skip the read; with it (a watcher event) the content
    /// hash decides.
    /// </summary>
    public void Reload(bool force)
    {
        if (_path is null)
        {
            return;
        }

        lock (_reloading)
        {
            try
            {
                var info = new FileInfo(_path);
                if (!info.Exists)
                {
                    Problem("the file does not exist");
                    _seen = null;
                    return;
                }

                if (info.Length > _maxBytes)
                {
                    Problem($"the file is larger than {_maxBytes} bytes");
                    return;
                }

                var seen = (info.Length, info.LastWriteTimeUtc);
                if (!force && _seen == seen && _loadedHash is not null)
                {
                    return;
                }

                var bytes = File.ReadAllBytes(_path);
                _seen = seen;
                var hash = SHA256.HashData(bytes);
                if (_loadedHash is not null && hash.AsSpan().SequenceEqual(_loadedHash))
                {
                    return;
                }

                var words = new BlockedWords(ParseLines(bytes));
                _words = words;
                _loadedHash = hash;
                _lastProblem = null;
                LogLoaded(_logger, words.Count, _path);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Runs on watcher and timer threads, where an escaping exception would end the process.
                Problem(e.GetType().Name);
            }
        }
    }

    internal static IEnumerable<string> ParseLines(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), new System.Text.UTF8Encoding(false, false), detectEncodingFromByteOrderMarks: true);
        var count = 0;
        while (reader.ReadLine() is { } line && count < MaxWords)
        {
            var word = line.Trim();
            if (word.Length is 0 or > MaxWordLength || word[0] == '#')
            {
                continue;
            }

            count++;
            yield return word;
        }
    }

    private void Problem(string what)
    {
        if (_lastProblem != what)
        {
            _lastProblem = what;
            LogProblem(_logger, _path!, what, _words.Count);
        }
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _timer?.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Moderation: {Count} blocked words loaded from {Path}")]
    private static partial void LogLoaded(ILogger logger, int count, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Moderation: cannot read {Path} ({Problem}); keeping the {Count} words loaded before")]
    private static partial void LogProblem(ILogger logger, string path, string problem, int count);
}
