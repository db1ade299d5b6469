using Microsoft.Extensions.Options;
using Parley.Server.Operations;
using Parley.Storage.Files;

namespace Parley.Server.Files;

/// <summary>
/// Removes what nothing uses any more: file records no message and no avatar references after
/// <c>Files:UnusedFileDays</c>; blob records no file references (bytes and thumbnails) after the grace period,
/// with their bytes; and bytes left behind by a crash (a blob without a record, a half-written upload).
/// </summary>
public sealed partial class FileSweeper(FileStore files, IBlobStore blobs, IOptions<FileUploadOptions> options, TimeProvider time, ILogger<FileSweeper> logger, WorkerLeadership? leadership = null)
    : PeriodicWorker(TimeSpan.FromMinutes(Math.Max(1, options.Value.SweepIntervalMinutes)), time, logger, leadership)
{
    private const int Batch = 1_000;

    public sealed record Result(int Files, int Blobs, int Strays);

    public async Task<Result> SweepOnceAsync(CancellationToken cancellationToken = default)
    {
        var now = Time.GetUtcNow();
        var settings = options.Value;

        var filesDeleted = 0;
        if (settings.UnusedFileDays > 0)
        {
            var cutoff = (now - TimeSpan.FromDays(settings.UnusedFileDays)).ToUnixTimeMilliseconds();
            int deleted;
            do
            {
                deleted = await files.DeleteUnusedFilesAsync(cutoff, Batch, cancellationToken);
                filesDeleted += deleted;
            }
            while (deleted == Batch);
        }

        // The record goes first, then the bytes: a crash in between leaves a stray, found below next time.
        var grace = now - TimeSpan.FromMinutes(Math.Max(1, settings.BlobGraceMinutes));
        var blobsDeleted = 0;
        IReadOnlyList<string> keys;
        do
        {
            keys = await files.DeleteUnreferencedBlobsAsync(grace.ToUnixTimeMilliseconds(), Batch, cancellationToken);
            foreach (var key in keys)
            {
                await blobs.DeleteAsync(key, cancellationToken);
            }

            blobsDeleted += keys.Count;
        }
        while (keys.Count == Batch);

        var strays = blobs.DeleteStaleTemporaryFiles(grace);
        foreach (var chunk in blobs.ListWrittenBefore(grace).Chunk(500))
        {
            var known = await files.KnownBlobsAsync(chunk, cancellationToken);
            foreach (var key in chunk.Where(k => !known.Contains(k)))
            {
                await blobs.DeleteAsync(key, cancellationToken);
                strays++;
            }
        }

        if (filesDeleted + blobsDeleted + strays > 0)
        {
            LogSwept(Logger, filesDeleted, blobsDeleted, strays);
        }

        return new Result(filesDeleted, blobsDeleted, strays);
    }

    public override Task RunOnceAsync(CancellationToken cancellationToken) => SweepOnceAsync(cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Files: removed {Files} unused uploads, {Blobs} unreferenced blobs and {Strays} stray files")]
    private static partial void LogSwept(ILogger logger, int files, int blobs, int strays);
}
