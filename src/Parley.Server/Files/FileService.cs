using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Files;

namespace Parley.Server.Files;

/// <summary>
/// Uploads: streamed to a temporary file while hashed (never held in memory), size enforced as the bytes
/// arrive, type sniffed from the bytes, stored once per distinct content (hash and size, then a byte
/// compare), images and videos measured and thumbnailed by the bounded <see cref="MediaWorkers"/>. Also answers
/// whether a user may use a file in a message.
/// </summary>
/// <remarks>
/// The upload awaits its media job for at most <see cref="FileUploadOptions.ProcessingWaitSeconds"/>: normally the
/// answer carries the size and <c>hasThumbnail: true</c>, as clients expect; when the workers are busy it answers
/// without them (honestly: null and false), and the job, still queued, records them when it is done, so the
/// thumbnail appears later. An upload is never slower than the wait, however many are queued.
/// </remarks>
public sealed partial class FileService(
    FileStore files,
    IBlobStore blobs,
    IContentHasher hasher,
    IImageProcessor images,
    IVideoProcessor videos,
    MediaWorkers workers,
    UploadGuard guard,
    IdGenerator ids,
    TimeProvider time,
    IOptions<FileUploadOptions> options,
    ILogger<FileService> logger) : IFileAccess
{
    private const int MultipartOverhead = 64 * 1024;
    private readonly FileUploadOptions _options = options.Value;

    public async Task<FileDto> UploadAsync(HttpRequest request, long ownerId, CancellationToken cancellationToken)
    {
        // One user cannot fill the disk: a start rate, a bound on uploads streaming at once, and a byte quota over
        // any 24 hours, counted from the files table (so it holds across restarts and nodes).
        if (guard.TryStart(ownerId) is { } wait)
        {
            throw new ApiException(429, ErrorCodes.RateLimited, wait.Message) { RetryAfterSeconds = wait.Seconds };
        }

        try
        {
            var allowance = _options.MaxBytes;
            if (_options.DailyBytesPerUser > 0)
            {
                var now = time.GetUtcNow().ToUnixTimeMilliseconds();
                var (used, oldest) = await files.UploadedSinceAsync(ownerId, now - DayMs, cancellationToken);
                var left = _options.DailyBytesPerUser - used;
                if (left <= 0 || request.ContentLength - MultipartOverhead > left)
                {
                    throw QuotaExceeded(oldest, now);
                }

                allowance = Math.Min(allowance, left);
            }

            return await UploadWithinAsync(request, ownerId, allowance, cancellationToken);
        }
        finally
        {
            guard.Done(ownerId);
        }
    }

    private const long DayMs = 24 * 3600 * 1000;

    private ApiException QuotaExceeded(long? oldest, long now) =>
        new(429, ErrorCodes.RateLimited, $"At most {_options.DailyBytesPerUser} bytes of uploads per 24 hours; try again later.")
        {
            RetryAfterSeconds = (int)Math.Clamp(((oldest ?? now) + DayMs - now + 999) / 1000, 1, DayMs / 1000),
        };

    private async Task<FileDto> UploadWithinAsync(HttpRequest request, long ownerId, long allowance, CancellationToken cancellationToken)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType)
            || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value is not { Length: > 0 and <= 200 } boundary)
        {
            throw new ApiException(415, ErrorCodes.UnsupportedMediaType, "Upload with multipart/form-data and a field named file.");
        }

        // Refuse early what is too large already by its declared length; the stream is counted as well.
        if (request.ContentLength > _options.MaxBytes + MultipartOverhead)
        {
            throw TooLarge();
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = _options.MaxBytes + MultipartOverhead;
        }

        var reader = new MultipartReader(boundary, request.Body) { HeadersLengthLimit = 16 * 1024 };
        while (await Multipart(reader.ReadNextSectionAsync(cancellationToken)) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                || !disposition.DispositionType.Equals("form-data")
                || HeaderUtilities.RemoveQuotes(disposition.Name).Value != "file")
            {
                continue; // other fields are ignored
            }

            var name = CleanName(HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value);
            return await StoreAsync(section.Body, name, ownerId, allowance, cancellationToken);
        }

        throw ApiException.Invalid("file", "a multipart field named file is required");
    }

    /// <summary>
    /// A read of the multipart body, where MultipartReader's complaints about the client's body (empty, only a
    /// preamble, cut off before the closing boundary, part headers over the limits) become 400 <c>invalid</c>.
    /// Kestrel's own (413, a client that went away) derive from IOException too and are left to the middleware.
    /// </summary>
    private static async Task<T> Multipart<T>(Task<T> read)
    {
        try
        {
            return await read;
        }
        catch (InvalidDataException e)
        {
            throw ApiException.Invalid("body", MalformedReason(e));
        }
        catch (IOException e) when (e.GetType() == typeof(IOException))
        {
            throw ApiException.Invalid("body", "the multipart body ends before its closing boundary");
        }
    }

    private static string MalformedReason(InvalidDataException e) =>
        e.Message.Contains("limit", StringComparison.Ordinal)
            ? "the headers of a multipart part may be at most 16 KiB and 16 lines"
            : "is not a well-formed multipart body";

    public async Task<FileRow> ReadableAsync(string id, long userId, CancellationToken cancellationToken) =>
        Ids.TryParse(id, out var fileId) && await files.GetAsync(fileId, cancellationToken) is { } file && await files.CanReadAsync(fileId, userId, cancellationToken)
            ? file
            : throw ApiException.NotFound("File"); // the same answer whether it does not exist or is not yours

    public async ValueTask<bool> CanUseAsync(long userId, long fileId, CancellationToken cancellationToken) =>
        await files.CanReadAsync(fileId, userId, cancellationToken);

    /// <summary>
    /// True when the file is an image the user uploaded (avatars). Only one's own upload: an avatar is readable by
    /// every signed-in user, so a file received in a chat must never become one (it would outlive the chat's
    /// access rules, recall and retention).
    /// </summary>
    public async Task<bool> IsUsableImageAsync(long userId, long fileId, CancellationToken cancellationToken) =>
        await files.GetAsync(fileId, cancellationToken) is { } file
        && file.OwnerId == userId
        && ContentSniffer.IsImage(file.ContentType);

    /// <summary>
    /// Stores bytes the server fetched for a user (a link preview's image) as that user's file, as an upload would be,
    /// and counted against the same daily quota; null (nothing stored) when they are over <c>Files:MaxBytes</c> or over
    /// what is left of the owner's quota (<c>Files:DailyBytesPerUser</c>, counted from the files table).
    /// </summary>
    public async Task<FileDto?> TryStoreFetchedAsync(byte[] bytes, string name, long ownerId, CancellationToken cancellationToken)
    {
        var allowance = _options.MaxBytes;
        if (_options.DailyBytesPerUser > 0)
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var (used, _) = await files.UploadedSinceAsync(ownerId, now - DayMs, cancellationToken);
            allowance = Math.Min(allowance, _options.DailyBytesPerUser - used);
        }

        if (bytes.Length > allowance)
        {
            return null;
        }

        await using var body = new MemoryStream(bytes, writable: false);
        return await StoreAsync(body, CleanName(name), ownerId, allowance, cancellationToken);
    }

    private async Task<FileDto> StoreAsync(Stream body, string name, long ownerId, long allowance, CancellationToken cancellationToken)
    {
        var temp = blobs.NewTempPath();
        try
        {
            long size = 0;
            var head = new byte[ContentSniffer.HeadLength];
            var headLength = 0;
            string sha256;
            using (var hash = hasher.Begin())
            {
                await using (var output = PrivateFiles.CreateNew(temp, 64 * 1024, FileOptions.Asynchronous))
                {
                    var buffer = new byte[64 * 1024];
                    int read;
                    while ((read = await Multipart(body.ReadAsync(buffer, cancellationToken).AsTask())) > 0)
                    {
                        size += read;
                        if (size > allowance)
                        {
                            // Past the size limit it is too large; short of it, past what is left of the day's quota.
                            throw size > _options.MaxBytes ? TooLarge() : QuotaExceeded(null, time.GetUtcNow().ToUnixTimeMilliseconds());
                        }

                        if (headLength < head.Length)
                        {
                            var take = Math.Min(read, head.Length - headLength);
                            buffer.AsSpan(0, take).CopyTo(head.AsSpan(headLength));
                            headLength += take;
                        }

                        hash.Append(buffer.AsSpan(0, read));
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    }

                    await output.FlushAsync(cancellationToken);
                }

                sha256 = hash.Finish();
            }

            var contentType = ContentSniffer.Sniff(head.AsSpan(0, headLength), complete: size <= head.Length);
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var blobKey = await StoreBlobAsync(temp, sha256, size, now, cancellationToken);

            var job = Process(ownerId, contentType, blobKey);
            var media = job is null ? MediaInfo.None : await WaitAsync(job, cancellationToken);
            var file = new FileRow
            {
                Id = ids.Next(),
                OwnerId = ownerId,
                Name = name,
                Size = size,
                ContentType = contentType,
                Sha256 = sha256,
                BlobKey = blobKey,
                Width = media?.Width,
                Height = media?.Height,
                ThumbnailKey = media is null ? null : await StoreThumbnailAsync(media.Thumbnail, now, cancellationToken),
                CreatedAt = now,
            };
            try
            {
                await files.CreateAsync(file, cancellationToken);
            }
            catch
            {
                job?.Cancel();
                throw;
            }

            if (media is null && job is not null)
            {
                _ = RecordLaterAsync(file.Id, job);
            }

            return ToDto(file);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Queues the measuring and thumbnailing of an image or a video; null for other files, or when the queue (or the owner's share of it) is full.</summary>
    private MediaJob? Process(long ownerId, string contentType, string blobKey)
    {
        var maxSide = _options.ThumbnailMaxSide;
        if (ContentSniffer.IsImage(contentType) && blobs.LocalPath(blobKey) is { } imagePath)
        {
            return workers.TryEnqueue(ownerId, _ => ValueTask.FromResult(images.Process(imagePath, maxSide)));
        }

        if (ContentSniffer.IsVideo(contentType) && blobs.LocalPath(blobKey) is { } videoPath)
        {
            return workers.TryEnqueue(ownerId, async cancellationToken =>
            {
                // Only what ffprobe can read as a video is given to ffmpeg for a frame.
                if (await videos.TryReadSizeAsync(videoPath, cancellationToken) is not var (width, height))
                {
                    return MediaInfo.None;
                }

                return new MediaInfo(width, height, await videos.TryPosterAsync(videoPath, maxSide, cancellationToken));
            });
        }

        return null;
    }

    /// <summary>The job's result, or null when it is not done within the wait (it goes on; see <see cref="RecordLaterAsync"/>).</summary>
    private async Task<MediaInfo?> WaitAsync(MediaJob job, CancellationToken cancellationToken)
    {
        try
        {
            if (_options.ProcessingWaitSeconds <= 0)
            {
                return null;
            }

            return await job.Completion.WaitAsync(TimeSpan.FromSeconds(_options.ProcessingWaitSeconds), cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return MediaInfo.None; // abandoned: the server is stopping
        }
        catch (OperationCanceledException)
        {
            job.Cancel(); // the upload was given up: so is its processing, unless it is running already
            throw;
        }
    }

    /// <summary>Records the result of a job that outlived its upload's wait. Never throws.</summary>
    private async Task RecordLaterAsync(long fileId, MediaJob job)
    {
        try
        {
            var media = await job.Completion;
            if (media.Width is null && media.Thumbnail is null)
            {
                return;
            }

            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var thumbnailKey = await StoreThumbnailAsync(media.Thumbnail, now, CancellationToken.None);
            await files.SetMediaAsync(fileId, media.Width, media.Height, thumbnailKey, CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            // the server stopped first: the file stays without size and thumbnail
        }
        catch (Exception e)
        {
            LogRecordFailed(logger, e);
        }
    }

    /// <summary>Stores the temporary file as a blob, sharing an existing blob only when the bytes are equal.</summary>
    private async Task<string> StoreBlobAsync(string temp, string sha256, long size, long now, CancellationToken cancellationToken)
    {
        var candidates = await files.BlobsWithHashAsync(sha256, size, cancellationToken);
        foreach (var candidate in candidates)
        {
            // Marked as used first, so the sweeper leaves it alone from here on; then, since equal hash and size
            // is not proof, the bytes are compared, so a collision can never merge two files.
            if (await files.TouchBlobAsync(candidate, now, cancellationToken)
                && blobs.LocalPath(candidate) is { } existing
                && await SameBytesAsync(temp, existing, cancellationToken))
            {
                return candidate;
            }
        }

        // A new key every time (never a key the sweeper might be deleting the bytes of).
        var key = $"{sha256}-{size}-{ids.Next()}";
        await blobs.PutAsync(key, temp, cancellationToken);
        await files.AddBlobAsync(key, sha256, size, now, cancellationToken);
        return key;
    }

    private async Task<string?> StoreThumbnailAsync(byte[]? thumbnail, long now, CancellationToken cancellationToken)
    {
        if (thumbnail is null)
        {
            return null;
        }

        var temp = blobs.NewTempPath();
        try
        {
            await using (var output = PrivateFiles.CreateNew(temp, 4096, FileOptions.Asynchronous))
            {
                await output.WriteAsync(thumbnail, cancellationToken);
            }

            using var hash = hasher.Begin();
            hash.Append(thumbnail);
            return await StoreBlobAsync(temp, hash.Finish(), thumbnail.Length, now, cancellationToken);
        }
        catch (Exception e) when (e is IOException)
        {
            LogThumbnailFailed(logger, e);
            return null;
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private static async Task<bool> SameBytesAsync(string a, string b, CancellationToken cancellationToken)
    {
        await using var first = File.OpenRead(a);
        await using var second = File.OpenRead(b);
        if (first.Length != second.Length)
        {
            return false;
        }

        var x = new byte[64 * 1024];
        var y = new byte[64 * 1024];
        while (true)
        {
            var read = await first.ReadAtLeastAsync(x, x.Length, throwOnEndOfStream: false, cancellationToken);
            var other = await second.ReadAtLeastAsync(y, read, throwOnEndOfStream: false, cancellationToken);
            if (read != other || !x.AsSpan(0, read).SequenceEqual(y.AsSpan(0, other)))
            {
                return false;
            }

            if (read < x.Length)
            {
                return true;
            }
        }
    }

    private static string CleanName(string? name)
    {
        var value = Path.GetFileName((name ?? "").Replace('\\', '/')).Trim();
        value = Accounts.AccountRules.WithoutFormatCharacters(new string(value.Where(c => !char.IsControl(c)).ToArray())).Trim();
        if (value.Length > 255)
        {
            value = value[..255];
        }

        return value.Length == 0 ? "file" : value;
    }

    public static FileDto ToDto(FileRow file) =>
        new(Ids.Format(file.Id), file.Name, file.Size, file.ContentType, file.Sha256, file.Width, file.Height, file.ThumbnailKey is not null);

    private ApiException TooLarge() => new(413, ErrorCodes.TooLarge, $"Files may be at most {_options.MaxBytes} bytes.");

    [LoggerMessage(Level = LogLevel.Warning, Message = "The size and thumbnail of an upload could not be recorded")]
    private static partial void LogRecordFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A thumbnail could not be stored")]
    private static partial void LogThumbnailFailed(ILogger logger, Exception exception);
}
