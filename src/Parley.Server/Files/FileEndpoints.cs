using Microsoft.Net.Http.Headers;
using Parley.Server.Accounts;
using Parley.Server.Api;
using Parley.Server.Http;

namespace Parley.Server.Files;

public static class FileEndpoints
{
    public static void MapFiles(this IEndpointRouteBuilder app)
    {
        var files = app.MapGroup("/api/files").WithTags("Files").RequireAuthorization();

        files.MapPost("/", async (HttpContext context, FileService service) =>
            Results.Json(await service.UploadAsync(context.Request, context.Caller().UserId, context.RequestAborted), ParleyJson.Default.FileDto, statusCode: 201))
            .WithName("uploadFile")
            .WithSummary("Upload a file (multipart/form-data, one part named file)")
            .Accepts<IFormFile>("multipart/form-data")
            .Returns<FileDto>(201, "The stored file: its id, sniffed content type, SHA-256 and, for images, size and thumbnail.")
            .ProducesErrors(400, 401, 413, 415, 429)
            .DisableAntiforgery();

        // HEAD as GET (Kestrel sends the headers and no body): a client can learn type, length and ETag cheaply.
        string[] getOrHead = [HttpMethods.Get, HttpMethods.Head];
        files.MapMethods("/{id}", getOrHead, async (string id, HttpContext context, FileService service, IBlobStore blobs) =>
        {
            var file = await service.ReadableAsync(id, context.Caller().UserId, context.RequestAborted);
            var path = blobs.LocalPath(file.BlobKey) ?? throw ApiException.NotFound("File");
            Harden(context.Response);
            // Only media is shown inline; anything else downloads, so no upload is ever rendered as a page.
            return Results.File(
                path,
                file.ContentType,
                ContentSniffer.IsMedia(file.ContentType) ? null : file.Name,
                DateTimeOffset.FromUnixTimeMilliseconds(file.CreatedAt),
                new EntityTagHeaderValue($"\"{file.Sha256}\""),
                enableRangeProcessing: true);
        }).WithName("downloadFile").WithSummary("Download a file's bytes (Range requests supported)")
            .ReturnsBytes(200, "The bytes with their sniffed Content-Type, ETag and `X-Content-Type-Options: nosniff`; non-media as an attachment.")
            .ReturnsBytes(206, "The requested byte range.")
            .ProducesErrors(401, 404, 416);

        files.MapMethods("/{id}/thumbnail", getOrHead, async (string id, HttpContext context, FileService service, IBlobStore blobs) =>
        {
            var file = await service.ReadableAsync(id, context.Caller().UserId, context.RequestAborted);
            var path = (file.ThumbnailKey is { } key ? blobs.LocalPath(key) : null) ?? throw ApiException.NotFound("Thumbnail");
            Harden(context.Response);
            var head = new byte[16];
            await using (var stream = File.OpenRead(path))
            {
                await stream.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, context.RequestAborted);
            }

            return Results.File(path, ContentSniffer.Sniff(head, complete: false), null, null, new EntityTagHeaderValue($"\"t-{file.Sha256}\""), enableRangeProcessing: true);
        }).WithName("downloadThumbnail").WithSummary("Download a file's thumbnail (at most 320 px on its long side)")
            .ReturnsBytes(200, "The thumbnail image (images and, where possible, videos).")
            .ProducesErrors(401, 404);
    }

    /// <summary>Even a file a browser opens directly cannot run script or load anything.</summary>
    private static void Harden(HttpResponse response)
    {
        response.Headers.ContentSecurityPolicy = "default-src 'none'; sandbox";
        response.Headers.CacheControl = "private, max-age=86400";
    }
}
