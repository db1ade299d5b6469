using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Parley.Server.Files;

/// <summary>Video dimensions and a poster-frame thumbnail; backed by ffmpeg when it is installed.</summary>
public interface IVideoProcessor
{
    /// <summary>The first video stream's size, or null.</summary>
    Task<(int Width, int Height)?> TryReadSizeAsync(string path, CancellationToken cancellationToken);

    /// <summary>A JPEG frame of at most <paramref name="maxSide"/> pixels on its long side, or null.</summary>
    Task<byte[]?> TryPosterAsync(string path, int maxSide, CancellationToken cancellationToken);
}

/// <summary>
/// Runs <c>ffprobe</c> and <c>ffmpeg</c> (Debian's <c>ffmpeg</c>) as child processes on the stored file: uploads are
/// hostile input, so each run reads local files only (no network protocols, which playlists could otherwise
/// reach), decodes one frame of a bounded size on one thread, is killed after a deadline, and its output is capped.
/// Without ffmpeg, videos simply get no size and no thumbnail.
/// </summary>
public sealed partial class FfmpegVideoProcessor : IVideoProcessor
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private const int MaxOutput = 4 * 1024 * 1024;
    private const long MaxPixels = 80_000_000;

    private readonly string? _ffmpeg;
    private readonly string? _ffprobe;
    private readonly ILogger<FfmpegVideoProcessor> _logger;

    public FfmpegVideoProcessor(IOptions<FileUploadOptions> options, ILogger<FfmpegVideoProcessor> logger)
    {
        _logger = logger;
        _ffmpeg = Find(options.Value.Ffmpeg);
        _ffprobe = _ffmpeg is null ? null : Find(Path.Combine(Path.GetDirectoryName(_ffmpeg) ?? "", "ffprobe"));
        if (_ffmpeg is null)
        {
            LogUnavailable(logger, options.Value.Ffmpeg);
        }
    }

    public bool IsAvailable => _ffmpeg is not null;

    public async Task<(int Width, int Height)?> TryReadSizeAsync(string path, CancellationToken cancellationToken)
    {
        if (_ffprobe is null)
        {
            return null;
        }

        // The size as the container's header gives it. By default ffprobe also decodes frames to fill in what the
        // header leaves out, with no pixel limit: a 3 MB MOV of one 16000 x 16000 16-bit PNG frame took it 2 GB and
        // 2.5 s. Only when the header has no size (MPEG-4 Part 2 in MP4 keeps it in the bitstream) does ffprobe
        // decode, then under ffmpeg's pixel limit; a file it could not open, or that ran into the deadline, is not
        // tried again.
        var header = await RunAsync(_ffprobe, SizeArguments(path, "-nofind_stream_info"), cancellationToken);
        return header is null
            ? null
            : ParseSize(header) ?? ParseSize(await RunAsync(_ffprobe, SizeArguments(path, "-max_pixels", MaxPixels.ToString(CultureInfo.InvariantCulture)), cancellationToken));
    }

    private static string[] SizeArguments(string path, params string[] how) =>
        ["-v", "error", .. how, "-protocol_whitelist", "file", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0:s=x", "file:" + path];

    /// <summary>ffprobe's "WIDTHxHEIGHT"; null for anything else, or for a size of 0 (not known).</summary>
    private static (int Width, int Height)? ParseSize(byte[]? output)
    {
        var parts = output is null ? [] : System.Text.Encoding.ASCII.GetString(output).Trim().Split('x');
        return parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var width)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var height)
            && width > 0 && height > 0
            ? (width, height)
            : null;
    }

    public async Task<byte[]?> TryPosterAsync(string path, int maxSide, CancellationToken cancellationToken)
    {
        if (_ffmpeg is null || maxSide <= 0)
        {
            return null;
        }

        // A second in, past the black first frame of many recordings; a shorter video gives its first frame.
        return await PosterAtAsync(path, maxSide, "1", cancellationToken) ?? await PosterAtAsync(path, maxSide, "0", cancellationToken);
    }

    private Task<byte[]?> PosterAtAsync(string path, int maxSide, string seconds, CancellationToken cancellationToken)
    {
        var side = maxSide.ToString(CultureInfo.InvariantCulture);
        return RunAsync(_ffmpeg!,
            [
                "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file", "-threads", "1",
                "-max_pixels", MaxPixels.ToString(CultureInfo.InvariantCulture), "-ss", seconds, "-i", "file:" + path,
                "-frames:v", "1", "-an", "-sn",
                "-vf", $"scale=w='min({side},iw)':h='min({side},ih)':force_original_aspect_ratio=decrease",
                "-f", "image2", "-c:v", "mjpeg", "-q:v", "4", "pipe:1",
            ],
            cancellationToken);
    }

    /// <summary>The program's standard output, or null when it failed, printed nothing, ran too long or printed too much.</summary>
    private async Task<byte[]?> RunAsync(string program, string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Deadline);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            LogFailed(_logger, Path.GetFileName(program), e.Message);
            return null;
        }

        using (process)
        {
            try
            {
                var errors = process.StandardError.ReadToEndAsync(deadline.Token);
                using var buffer = new MemoryStream();
                var chunk = new byte[64 * 1024];
                int read;
                while ((read = await process.StandardOutput.BaseStream.ReadAsync(chunk, deadline.Token)) > 0)
                {
                    if (buffer.Length + read > MaxOutput)
                    {
                        process.Kill(entireProcessTree: true);
                        return null;
                    }

                    buffer.Write(chunk, 0, read);
                }

                await process.WaitForExitAsync(deadline.Token);
                var error = await errors;
                if (process.ExitCode != 0 || buffer.Length == 0)
                {
                    if (process.ExitCode != 0)
                    {
                        LogFailed(_logger, Path.GetFileName(program), error.Length > 300 ? error[..300] : error.Trim());
                    }

                    return null;
                }

                return buffer.ToArray();
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                cancellationToken.ThrowIfCancellationRequested();
                LogFailed(_logger, Path.GetFileName(program), "deadline passed");
                return null;
            }
        }
    }

    private static string? Find(string program)
    {
        if (string.IsNullOrWhiteSpace(program))
        {
            return null;
        }

        if (program.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(program) ? Path.GetFullPath(program) : null;
        }

        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "ffmpeg ({Program}) is not installed: videos get no size and no poster thumbnail. Install Debian's ffmpeg (scripts/deps.sh)")]
    private static partial void LogUnavailable(ILogger logger, string program);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Program} could not read an uploaded video: {Reason}")]
    private static partial void LogFailed(ILogger logger, string program, string reason);
}
