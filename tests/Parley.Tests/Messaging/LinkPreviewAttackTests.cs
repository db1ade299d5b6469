using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

/// <summary>
/// Reproductions (attack branch): a remote page that misbehaves at the transport level (a body cut short, a broken gzip
/// stream, a charset .NET refuses) must not turn into a 500 for the caller, and a broken og:image must only leave the
/// image out. Each test fails while the bug is there.
/// </summary>
public sealed class LinkPreviewAttackTests : IAsyncLifetime
{
    private WebApplication _origin = null!;
    private int _port;
    private TestStore _store = null!;
    private ParleyServer _server = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        _origin = builder.Build();
        _origin.MapGet("/truncated", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/html";
            context.Response.ContentLength = 100_000;
            await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes("<html><title>cut"));
            await context.Response.Body.FlushAsync();
            context.Abort();
        });
        _origin.MapGet("/bad-gzip", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/html";
            context.Response.Headers.ContentEncoding = "gzip";
            await context.Response.Body.WriteAsync(new byte[] { 0x1f, 0x8b, 0x08, 0x00, 0x67, 0x61, 0x72, 0x62, 0x61, 0x67, 0x65, 0x21, 0x21, 0x21 });
        });
        _origin.MapGet("/utf7", async (HttpContext context) =>
        {
            // Set by hand: ASP.NET itself will not encode UTF-7.
            context.Response.Headers.ContentType = "text/html; charset=utf-7";
            await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes("<html><head><title>seven</title></head></html>"));
        });
        _origin.MapGet("/broken-image-page", () => Results.Content(
            "<html><head><meta property=\"og:title\" content=\"has a broken image\"><meta property=\"og:image\" content=\"/broken.png\"></head></html>", "text/html"));
        _origin.MapGet("/broken.png", async (HttpContext context) =>
        {
            context.Response.ContentType = "image/png";
            context.Response.ContentLength = 100_000;
            await context.Response.Body.WriteAsync(TestImages.Png(4, 4));
            await context.Response.Body.FlushAsync();
            context.Abort();
        });
        _origin.MapGet("/nested-divs", () => Results.Content(
            "<html><head><title>deep divs</title></head><body>" + string.Concat(Enumerable.Repeat("<div>", 200_000)), "text/html"));
        _origin.MapGet("/nested-formatting", () => Results.Content(
            "<title>deep formatting</title>" + string.Concat(Enumerable.Repeat("<b><i><u><s>", 20_000)), "text/html"));
        await _origin.StartAsync();
        _port = new Uri(_origin.Urls.First()).Port;
        _store = await TestStore.CreateAsync(Backend.Sqlite);
        _server = await ParleyServer.StartAsync(_store, null, ["--LinkPreviews:Enabled=true", "--LinkPreviews:TimeoutMs=3000", $"--LinkPreviews:TestLoopbackPort={_port}"]);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _store.DisposeAsync();
        await _origin.StopAsync();
        await _origin.DisposeAsync();
    }

    private Task<HttpResponseMessage> Preview(TestUser user, string path) =>
        _server.Post(user, "/api/link-previews", new JsonObject { ["url"] = $"http://127.0.0.1:{_port}{path}" });

    [Theory]
    [InlineData("/truncated")]
    [InlineData("/bad-gzip")]
    public async Task A_page_whose_body_breaks_off_or_does_not_decompress_is_400_not_500(string path)
    {
        var user = await _server.RegisterAsync();
        await Preview(user, path).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task A_page_declaring_utf7_is_previewed_not_500()
    {
        var user = await _server.RegisterAsync();
        using var response = await Preview(user, "/utf7");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task An_image_whose_body_breaks_off_is_left_out_and_the_preview_stays()
    {
        var user = await _server.RegisterAsync();
        var preview = await Preview(user, "/broken-image-page").Expect(HttpStatusCode.OK);
        Assert.Equal("has a broken image", (string?)preview["title"]);
        Assert.Null(preview["imageFileId"]);
    }

    [Theory]
    [InlineData("/nested-divs", "deep divs")]
    [InlineData("/nested-formatting", "deep formatting")]
    public async Task A_page_of_deeply_nested_tags_is_previewed_from_its_head(string path, string title)
    {
        var user = await _server.RegisterAsync();
        var preview = await Preview(user, path).Expect(HttpStatusCode.OK);
        Assert.Equal(title, (string?)preview["title"]);
    }

    [Fact]
    public void Only_the_head_is_parsed_and_at_most_MaxParseTags_tags()
    {
        var page = Encoding.ASCII.GetBytes("<html><head><title>t</title></head><body>" + string.Concat(Enumerable.Repeat("<div>", 10_000)));
        Assert.Equal("<html><head><title>t</title>".Length, Parley.Server.LinkPreviews.LinkPreviewService.HeadOf(page).Length);
        var noHead = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("<b>", 10_000)));
        Assert.Equal(Parley.Server.LinkPreviews.LinkPreviewService.MaxParseTags * 3, Parley.Server.LinkPreviews.LinkPreviewService.HeadOf(noHead).Length);
    }
}
