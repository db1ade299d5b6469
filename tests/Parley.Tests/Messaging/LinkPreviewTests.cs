using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Parley.Server.LinkPreviews;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

/// <summary>A web site on loopback for the previews to fetch: pages, an image, redirects, an oversize and a silent page.</summary>
public sealed class PreviewOrigin : IAsyncDisposable
{
    public const int MaxPageBytes = 64 * 1024;
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Held> _holds = new();
    private int _pageHits;

    private PreviewOrigin(WebApplication app)
    {
        _app = app;
    }

    public static readonly byte[] Image = TestImages.Png(40, 20);

    public int Port { get; private set; }

    public string Base => $"http://127.0.0.1:{Port}";

    public int PageHits => Volatile.Read(ref _pageHits);

    public string? LastUserAgent { get; private set; }

    public bool SawCookie { get; private set; }

    /// <summary>A request of <c>/held?key=</c> (or <c>/held-image?key=</c>) with this key reports its arrival, then waits for <see cref="Held.Release"/>.</summary>
    public Held Hold(string key) => _holds.GetOrAdd(key, static _ => new Held());

    /// <summary>Requests with this key are answered at once again.</summary>
    public void Unhold(string key)
    {
        if (_holds.TryRemove(key, out var held))
        {
            held.Release();
        }
    }

    private async Task WaitIfHeldAsync(string? key, CancellationToken aborted)
    {
        if (key is not null && _holds.TryGetValue(key, out var held))
        {
            held.Arrive();
            await held.Released.WaitAsync(aborted);
        }
    }

    public static async Task<PreviewOrigin> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        var app = builder.Build();
        var origin = new PreviewOrigin(app);
        app.MapGet("/page", (HttpContext context) =>
        {
            Interlocked.Increment(ref origin._pageHits);
            origin.LastUserAgent = context.Request.Headers.UserAgent.ToString();
            origin.SawCookie |= context.Request.Headers.Cookie.Count > 0;
            context.Response.Headers.SetCookie = "tracker=1; Path=/";
            return Results.Content(
                """
                <!doctype html><html><head>
                <title>The plain title</title>
                <meta property="og:title" content="  Open   Graph title ">
                <meta property="og:description" content="What the page is about">
                <meta property="og:image" content="/image.png">
                <meta name="description" content="the plain description">
                </head><body><script>document.title = 'scripted'</script>Hello</body></html>
                """,
                "text/html; charset=utf-8");
        });
        app.MapGet("/plain", () => Results.Content(
            "<html><head><meta charset=\"utf-8\"><title>标题 and title</title><meta name=\"description\" content=\"described\"></head><body></body></html>",
            "text/html"));
        app.MapGet("/image.png", () => Results.Bytes(Image, "image/png"));
        // Held until the test releases it (a page that is slow exactly as long as a test needs); its image held too when image= names a key.
        app.MapGet("/held", async (HttpContext context, string key, string? image) =>
        {
            Interlocked.Increment(ref origin._pageHits);
            await origin.WaitIfHeldAsync(key, context.RequestAborted);
            var src = image is null ? "/image.png" : $"/held-image?key={Uri.EscapeDataString(image)}";
            return Results.Content($"<html><head><meta property=\"og:title\" content=\"held\"><meta property=\"og:image\" content=\"{src}\"></head></html>", "text/html");
        });
        app.MapGet("/held-image", async (HttpContext context, string key) =>
        {
            await origin.WaitIfHeldAsync(key, context.RequestAborted);
            return Results.Bytes(Image, "image/png");
        });
        app.MapGet("/redirect-long", () => Results.Redirect("/plain?q=" + new string('a', 2100)));
        app.MapGet("/fake-image-page", () => Results.Content(
            "<html><head><meta property=\"og:title\" content=\"fake\"><meta property=\"og:image\" content=\"/fake.png\"></head></html>", "text/html"));
        app.MapGet("/fake.png", () => Results.Content("<html><script>alert(1)</script></html>", "image/png"));
        app.MapGet("/redirect", () => Results.Redirect("/page"));
        app.MapGet("/redirect-loop", () => Results.Redirect("/redirect-loop"));
        app.MapGet("/redirect-to", (string to) => Results.Redirect(to));
        app.MapGet("/text", () => Results.Text("just text", "text/plain"));
        app.MapGet("/missing", () => Results.NotFound());
        app.MapGet("/big", async (HttpContext context) =>
        {
            // No Content-Length: the bound is found while reading.
            context.Response.ContentType = "text/html";
            var chunk = Encoding.ASCII.GetBytes("<p>" + new string('x', 1020) + "</p>");
            for (var written = 0; written <= MaxPageBytes * 2; written += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
            }
        });
        app.MapGet("/big-declared", () => Results.Bytes(new byte[MaxPageBytes + 1], "text/html"));
        // Never answers: waits for the fetcher to give up (the request is aborted then).
        app.MapGet("/silent", async (HttpContext context) =>
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        await app.StartAsync();
        origin.Port = new Uri(app.Urls.First()).Port;
        return origin;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var held in _holds.Values)
        {
            held.Release();
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public sealed class Held
    {
        private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when a request with this key reached the site.</summary>
        public Task Arrived => _arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));

        internal Task Released => _released.Task;

        internal void Arrive() => _arrived.TrySetResult();

        public void Release() => _released.TrySetResult();
    }
}

/// <summary>A site on loopback, a Parley server allowed to fetch from that one port, and a server with the guard fully on.</summary>
public abstract class LinkPreviewFixture : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    public abstract Backend Backend { get; }

    public bool Available => Backend == Backend.Sqlite || TestStore.PostgresAdminConnectionString is not null;

    public PreviewOrigin Origin { get; private set; } = null!;

    /// <summary>Fetches from <see cref="Origin"/>'s port only (LinkPreviews:TestLoopbackPort).</summary>
    public ParleyServer Server { get; private set; } = null!;

    /// <summary>No loopback at all: the production guard.</summary>
    public ParleyServer Guarded { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        if (!Available)
        {
            return;
        }

        Origin = await PreviewOrigin.StartAsync();
        _owned.Add(Origin);
        string[] common = ["--LinkPreviews:Enabled=true", $"--LinkPreviews:MaxPageBytes={PreviewOrigin.MaxPageBytes}", "--LinkPreviews:TimeoutMs=1500", "--LinkPreviews:RequestsPerMinute=100000"];
        var store = await TestStore.CreateAsync(Backend);
        _owned.Add(store);
        Server = await ParleyServer.StartAsync(store, null, [.. common, $"--LinkPreviews:TestLoopbackPort={Origin.Port}"]);
        _owned.Insert(0, Server);
        var guardedStore = await TestStore.CreateAsync(Backend);
        _owned.Add(guardedStore);
        Guarded = await ParleyServer.StartAsync(guardedStore, null, common);
        _owned.Insert(0, Guarded);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}

public sealed class LinkPreviewFixtureSqlite : LinkPreviewFixture
{
    public override Backend Backend => Backend.Sqlite;
}

public sealed class LinkPreviewFixturePostgres : LinkPreviewFixture
{
    public override Backend Backend => Backend.Postgres;
}

public sealed class LinkPreviewTestsSqlite(LinkPreviewFixtureSqlite fixture) : LinkPreviewTests(fixture), IClassFixture<LinkPreviewFixtureSqlite>;

public sealed class LinkPreviewTestsPostgres(LinkPreviewFixturePostgres fixture) : LinkPreviewTests(fixture), IClassFixture<LinkPreviewFixturePostgres>;

/// <summary>
/// POST /api/link-previews against a real site on loopback: Open Graph first, then &lt;title&gt;; the image stored as the
/// caller's file; a cache per URL; and the server-side request forgery cases refused.
/// </summary>
public abstract class LinkPreviewTests(LinkPreviewFixture fixture) : IAsyncLifetime
{
    private PreviewOrigin Origin => fixture.Origin;

    public ValueTask InitializeAsync()
    {
        Assert.SkipUnless(fixture.Available, TestStore.SkipReason);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private static Task<HttpResponseMessage> Preview(ParleyServer server, TestUser user, string url) =>
        server.Post(user, "/api/link-previews", new JsonObject { ["url"] = url });

    [Fact]
    public async Task A_page_gives_its_open_graph_preview_and_the_image_is_the_callers_file()
    {
        var server = fixture.Server;
        var alice = await server.RegisterAsync();
        var url = $"{Origin.Base}/page?alice={Guid.NewGuid():N}";
        var preview = await Preview(server, alice, url + "#fragment").Expect(HttpStatusCode.OK);
        Assert.Equal(url, (string?)preview["url"]);
        Assert.Equal("Open Graph title", (string?)preview["title"]);
        Assert.Equal("What the page is about", (string?)preview["description"]);
        var imageId = (string?)preview["imageFileId"];
        Assert.NotNull(imageId);
        Assert.Equal(GuardedFetcher.UserAgent, Origin.LastUserAgent);

        using (var image = await server.Send(HttpMethod.Get, $"/api/files/{imageId}", alice.AccessToken))
        {
            Assert.Equal(HttpStatusCode.OK, image.StatusCode);
            Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);
            Assert.Equal(PreviewOrigin.Image, await image.Content.ReadAsByteArrayAsync());
        }

        // Cached per URL: a second caller gets the same preview without a second fetch, and an image file of their own.
        var hits = Origin.PageHits;
        var bob = await server.RegisterAsync();
        var again = await Preview(server, bob, url).Expect(HttpStatusCode.OK);
        Assert.Equal(hits, Origin.PageHits);
        Assert.Equal("Open Graph title", (string?)again["title"]);
        var bobImage = (string?)again["imageFileId"];
        Assert.NotEqual(imageId, bobImage);
        await server.Get(bob, $"/api/files/{imageId}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        using (var own = await server.Get(bob, $"/api/files/{bobImage}"))
        {
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
            Assert.Equal(PreviewOrigin.Image, await own.Content.ReadAsByteArrayAsync());
        }

        // The preview is a link message's content as it is.
        var (a, _, direct) = await server.FriendsWithConversationAsync();
        var mine = await Preview(server, a, url).Expect(HttpStatusCode.OK);
        var sent = await server.Post(a, $"/api/conversations/{direct}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "link",
            ["content"] = mine.DeepClone(),
        }).Expect(HttpStatusCode.Created);
        Assert.Equal("Open Graph title", (string?)sent["content"]!["title"]);

        using (var openApi = await server.Http.GetAsync("/openapi/v1.json"))
        {
            Assert.Equal(HttpStatusCode.OK, openApi.StatusCode);
            Assert.Contains("/api/link-previews", await openApi.Content.ReadAsStringAsync());
        }

        // No cookie jar: the cookie the page set is never sent back.
        await Preview(server, alice, $"{Origin.Base}/page?again={Guid.NewGuid():N}").Expect(HttpStatusCode.OK);
        Assert.False(Origin.SawCookie);
    }

    [Fact]
    public async Task Without_open_graph_the_title_and_description_tags_are_used_and_redirects_are_followed()
    {
        var server = fixture.Server;
        var user = await server.RegisterAsync();
        var plain = await Preview(server, user, $"{Origin.Base}/plain").Expect(HttpStatusCode.OK);
        Assert.Equal("标题 and title", (string?)plain["title"]);
        Assert.Equal("described", (string?)plain["description"]);
        Assert.Null(plain["imageFileId"]);

        var redirected = await Preview(server, user, $"{Origin.Base}/redirect?r={Guid.NewGuid():N}").Expect(HttpStatusCode.OK);
        Assert.Equal("Open Graph title", (string?)redirected["title"]);

        // An "image" whose bytes are HTML is left out; the preview stays.
        var fake = await Preview(server, user, $"{Origin.Base}/fake-image-page").Expect(HttpStatusCode.OK);
        Assert.Equal("fake", (string?)fake["title"]);
        Assert.Null(fake["imageFileId"]);
    }

    [Fact]
    public async Task Oversize_slow_and_non_html_pages_are_refused()
    {
        var server = fixture.Server;
        var user = await server.RegisterAsync();
        await Preview(server, user, $"{Origin.Base}/big").ExpectProblem(HttpStatusCode.RequestEntityTooLarge, "too_large");
        await Preview(server, user, $"{Origin.Base}/big-declared").ExpectProblem(HttpStatusCode.RequestEntityTooLarge, "too_large");
        await Preview(server, user, $"{Origin.Base}/silent").ExpectProblem(HttpStatusCode.ServiceUnavailable, "unavailable");
        await Preview(server, user, $"{Origin.Base}/text").ExpectProblem(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await Preview(server, user, $"{Origin.Base}/missing").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Preview(server, user, $"{Origin.Base}/redirect-loop").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Theory]
    [InlineData("ftp://example.org/file")]
    [InlineData("file:///etc/passwd")]
    [InlineData("javascript:alert(1)")]
    [InlineData("gopher://example.org/")]
    [InlineData("data:text/html,<title>x</title>")]
    [InlineData("/relative/path")]
    [InlineData("http://user:secret@example.org/")]
    [InlineData("")]
    public async Task Only_http_and_https_urls_are_fetched(string url)
    {
        var user = await fixture.Guarded.RegisterAsync();
        await Preview(fixture.Guarded, user, url).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Theory]
    [InlineData("http://127.0.0.1/")]
    [InlineData("http://127.1.2.3:8080/")]
    [InlineData("http://10.0.0.1/")]
    [InlineData("http://192.168.1.1/")]
    [InlineData("http://172.16.0.1/")]
    [InlineData("http://100.64.0.1/")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://0.0.0.0/")]
    [InlineData("http://[::1]/")]
    [InlineData("http://[::]/")]
    [InlineData("http://[::ffff:127.0.0.1]/")]
    [InlineData("http://[::ffff:169.254.169.254]/")]
    [InlineData("http://[fd00:ec2::254]/")]
    [InlineData("http://[fe80::1]/")]
    [InlineData("http://localhost/")]
    [InlineData("http://2130706433/")]
    public async Task Private_loopback_link_local_and_metadata_addresses_are_refused(string url)
    {
        var user = await fixture.Guarded.RegisterAsync();
        await Preview(fixture.Guarded, user, url).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task The_test_port_allows_nothing_else_and_every_redirect_is_checked()
    {
        var server = fixture.Server;
        var user = await server.RegisterAsync();
        // With the guard on, the site itself is refused.
        var guardedUser = await fixture.Guarded.RegisterAsync();
        await Preview(fixture.Guarded, guardedUser, $"{Origin.Base}/page").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");

        // The test setting opens one port on loopback, and only plain loopback: not another port, not an IPv4-mapped form.
        await Preview(server, user, $"http://127.0.0.1:{Origin.Port + 1}/page").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Preview(server, user, $"http://[::ffff:127.0.0.1]:{Origin.Port}/page").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");

        // A redirect from the allowed site to loopback elsewhere, to the metadata address or a private one: refused.
        foreach (var target in new[] { $"http://127.0.0.1:{Origin.Port + 1}/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://localhost:1/" })
        {
            await Preview(server, user, $"{Origin.Base}/redirect-to?to={Uri.EscapeDataString(target)}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        }

        await Preview(server, user, $"{Origin.Base}/redirect-to?to={Uri.EscapeDataString("file:///etc/passwd")}").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Previews_are_rate_limited_per_user_and_off_by_default()
    {
        await using (var store = await TestStore.CreateAsync(fixture.Backend))
        await using (var server = await ParleyServer.StartAsync(store, null, "--LinkPreviews:Enabled=true", "--LinkPreviews:RequestsPerMinute=2"))
        {
            var user = await server.RegisterAsync();
            for (var i = 0; i < 2; i++)
            {
                await Preview(server, user, "http://10.0.0.1/").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
            }

            await Preview(server, user, "http://10.0.0.1/").ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");
            var other = await server.RegisterAsync();
            await Preview(server, other, "http://10.0.0.1/").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        }

        await using (var store = await TestStore.CreateAsync(fixture.Backend))
        await using (var server = await ParleyServer.StartAsync(store))
        {
            var user = await server.RegisterAsync();
            await Preview(server, user, "http://example.org/").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        }
    }

    [Fact]
    public async Task A_url_over_2048_characters_once_percent_encoded_or_redirected_to_is_refused()
    {
        var server = fixture.Server;
        var user = await server.RegisterAsync();
        // 1,000 characters of text, 6,000 once percent-encoded: the URL that would be fetched is over the limit.
        var unicode = $"{Origin.Base}/plain?q={new string('é', 1000)}";
        Assert.True(unicode.Length <= LinkPreviewService.MaxUrl);
        await Preview(server, user, unicode).ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        // Exactly at the limit once encoded: fetched.
        var prefix = $"{Origin.Base}/plain?q=";
        var atLimit = prefix + new string('a', LinkPreviewService.MaxUrl - prefix.Length);
        var preview = await Preview(server, user, atLimit).Expect(HttpStatusCode.OK);
        Assert.Equal(atLimit, (string?)preview["url"]);

        // A redirect to a URL over the limit is refused like one asked for.
        await Preview(server, user, $"{Origin.Base}/redirect-long").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task An_image_over_the_callers_upload_quota_or_the_file_size_limit_is_left_out_of_a_200()
    {
        var quota = PreviewOrigin.Image.Length * 3 / 2; // room for one image a day
        await using (var store = await TestStore.CreateAsync(fixture.Backend))
        await using (var server = await ParleyServer.StartAsync(store, null, "--LinkPreviews:Enabled=true", "--LinkPreviews:RequestsPerMinute=100000",
            $"--LinkPreviews:TestLoopbackPort={Origin.Port}", $"--Files:DailyBytesPerUser={quota}"))
        {
            var alice = await server.RegisterAsync();
            var first = $"{Origin.Base}/page?quota={Guid.NewGuid():N}";
            Assert.NotNull((string?)(await Preview(server, alice, first).Expect(HttpStatusCode.OK))["imageFileId"]);

            // Another page (fetched) and the same page again (cached): the image no longer fits alice's day.
            foreach (var url in new[] { $"{Origin.Base}/page?quota={Guid.NewGuid():N}", first })
            {
                var over = await Preview(server, alice, url).Expect(HttpStatusCode.OK);
                Assert.Equal("Open Graph title", (string?)over["title"]);
                Assert.Null(over["imageFileId"]);
            }

            // Uploads see the same count: alice's day is used up by the preview's image.
            await server.Upload(alice, new byte[PreviewOrigin.Image.Length], "same-size.bin").ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");

            // Bob's quota is his own.
            var bob = await server.RegisterAsync();
            Assert.NotNull((string?)(await Preview(server, bob, first).Expect(HttpStatusCode.OK))["imageFileId"]);
        }

        // An image over Files:MaxBytes (but under LinkPreviews:MaxImageBytes) is left out too, never the preview.
        await using (var store = await TestStore.CreateAsync(fixture.Backend))
        await using (var server = await ParleyServer.StartAsync(store, null, "--LinkPreviews:Enabled=true", $"--LinkPreviews:TestLoopbackPort={Origin.Port}",
            $"--Files:MaxBytes={PreviewOrigin.Image.Length - 1}"))
        {
            var user = await server.RegisterAsync();
            var preview = await Preview(server, user, $"{Origin.Base}/page?max={Guid.NewGuid():N}").Expect(HttpStatusCode.OK);
            Assert.Equal("Open Graph title", (string?)preview["title"]);
            Assert.Null(preview["imageFileId"]);
        }
    }

    [Fact]
    public async Task Previews_in_flight_are_bounded_per_user_429_and_per_node_503()
    {
        await using var store = await TestStore.CreateAsync(fixture.Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--LinkPreviews:Enabled=true", "--LinkPreviews:RequestsPerMinute=100000",
            "--LinkPreviews:TimeoutMs=120000", "--LinkPreviews:MaxConcurrentPerUser=2", "--LinkPreviews:MaxConcurrentFetches=3",
            $"--LinkPreviews:TestLoopbackPort={Origin.Port}");
        var alice = await server.RegisterAsync();
        var bob = await server.RegisterAsync();
        var carol = await server.RegisterAsync();
        var keys = new[] { Guid.NewGuid().ToString("N"), Guid.NewGuid().ToString("N"), Guid.NewGuid().ToString("N") };
        var holds = keys.Select(Origin.Hold).ToArray();
        var inFlight = new List<Task<JsonNode>>();
        try
        {
            // Alice's two previews are held by the site.
            inFlight.Add(Preview(server, alice, $"{Origin.Base}/held?key={keys[0]}").Expect(HttpStatusCode.OK));
            inFlight.Add(Preview(server, alice, $"{Origin.Base}/held?key={keys[1]}").Expect(HttpStatusCode.OK));
            await holds[0].Arrived;
            await holds[1].Arrived;

            // A third of alice's is refused at once (whatever its URL), with Retry-After.
            using (var third = await Preview(server, alice, $"{Origin.Base}/plain?alice={Guid.NewGuid():N}"))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
                Assert.Contains("\"rate_limited\"", await third.Content.ReadAsStringAsync());
                Assert.NotNull(third.Headers.RetryAfter);
            }

            // Bob is not alice: his preview takes the node's third fetch slot.
            inFlight.Add(Preview(server, bob, $"{Origin.Base}/held?key={keys[2]}").Expect(HttpStatusCode.OK));
            await holds[2].Arrived;

            // The node's cap (3) is reached: carol, under her own limit, is told to come back.
            await Preview(server, carol, $"{Origin.Base}/plain?carol={Guid.NewGuid():N}").ExpectProblem(HttpStatusCode.ServiceUnavailable, "unavailable");
        }
        finally
        {
            foreach (var held in holds)
            {
                held.Release();
            }
        }

        foreach (var preview in await Task.WhenAll(inFlight).WaitAsync(TimeSpan.FromSeconds(60)))
        {
            Assert.Equal("held", (string?)preview["title"]);
            Assert.NotNull((string?)preview["imageFileId"]);
        }

        // Every slot is given back, also by previews that fail.
        for (var i = 0; i < 3; i++)
        {
            await Preview(server, alice, "http://10.0.0.1/").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        }

        await Preview(server, alice, $"{Origin.Base}/plain?again={Guid.NewGuid():N}").Expect(HttpStatusCode.OK);
        await Preview(server, carol, $"{Origin.Base}/plain?carol={Guid.NewGuid():N}").Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task One_deadline_bounds_the_page_and_its_image_together()
    {
        // The deadline runs on the previews' clock; this one moves only when the test says.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var store = await TestStore.CreateAsync(fixture.Backend);
        await using var server = await ParleyServer.StartAsync(
            store,
            null,
            services => services.AddSingleton(sp => ActivatorUtilities.CreateInstance<LinkPreviewService>(sp, (TimeProvider)clock)),
            "--LinkPreviews:Enabled=true", "--LinkPreviews:TimeoutMs=10000", $"--LinkPreviews:TestLoopbackPort={Origin.Port}");
        var user = await server.RegisterAsync();
        string page = Guid.NewGuid().ToString("N"), image = Guid.NewGuid().ToString("N");
        var pageHold = Origin.Hold(page);
        var imageHold = Origin.Hold(image);
        var url = $"{Origin.Base}/held?key={page}&image={image}";
        Task<JsonNode> preview;
        try
        {
            preview = Preview(server, user, url).Expect(HttpStatusCode.OK);

            // The page takes 6 of the 10 seconds, the image another 6: each under the limit, together over it.
            await pageHold.Arrived;
            clock.Advance(TimeSpan.FromSeconds(6));
            pageHold.Release();
            await imageHold.Arrived;
            clock.Advance(TimeSpan.FromSeconds(6));
        }
        finally
        {
            Origin.Unhold(page);
            Origin.Unhold(image);
        }

        // Out of time: the preview answers without its image.
        var late = await preview.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("held", (string?)late["title"]);
        Assert.Null(late["imageFileId"]);

        // Not cached without it: asked again (in time now), the page is fetched again and the image comes with it.
        var hits = Origin.PageHits;
        var again = await Preview(server, user, url).Expect(HttpStatusCode.OK);
        Assert.Equal(hits + 1, Origin.PageHits);
        Assert.NotNull((string?)again["imageFileId"]);
    }
}

/// <summary>The address rules alone (no network).</summary>
public sealed class AddressRulesTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("10.255.255.255")]
    [InlineData("100.64.0.0")]
    [InlineData("100.127.255.255")]
    [InlineData("127.0.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("172.16.0.0")]
    [InlineData("172.31.255.255")]
    [InlineData("192.0.0.8")]
    [InlineData("192.0.2.1")]
    [InlineData("192.168.0.1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.51.100.7")]
    [InlineData("203.0.113.9")]
    [InlineData("224.0.0.1")]
    [InlineData("240.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("::127.0.0.1")]
    [InlineData("::ffff:0:127.0.0.1")]
    [InlineData("64:ff9b::127.0.0.1")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("2002:7f00:1::")]
    [InlineData("2002:a9fe:a9fe::1")]
    [InlineData("fc00::1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("fe80::1")]
    [InlineData("febf::1")]
    [InlineData("fec0::1")]
    [InlineData("ff02::1")]
    [InlineData("2001:db8::1")]
    [InlineData("2001:0:4136:e378::1")]
    [InlineData("100::1")]
    public void Refused(string address) => Assert.False(AddressRules.IsPublic(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("1.1.1.1")]
    [InlineData("8.8.8.8")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.0")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.0")]
    [InlineData("93.184.216.34")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2a00:1450:4001:80b::200e")]
    public void Allowed(string address) => Assert.True(AddressRules.IsPublic(IPAddress.Parse(address)), address);
}

/// <summary>The URL length rule alone (no network): the URL as it is fetched, punycode host and percent-encoding included.</summary>
public sealed class LinkPreviewUrlTests
{
    [Fact]
    public void The_fetched_form_of_a_url_is_what_is_held_to_2048_characters()
    {
        var ascii = "http://example.org/" + new string('a', LinkPreviewService.MaxUrl - "http://example.org/".Length);
        Assert.Null(GuardedFetcher.CheckUrl(new Uri(ascii)));
        Assert.NotNull(GuardedFetcher.CheckUrl(new Uri(ascii + "a")));

        // 2,048 characters as typed; the host goes out as xn--bcher-kva.example, longer than bücher.example.
        var idn = "http://bücher.example/" + new string('a', LinkPreviewService.MaxUrl - "http://bücher.example/".Length);
        Assert.Equal(LinkPreviewService.MaxUrl, idn.Length);
        var uri = new Uri(idn);
        Assert.Equal("xn--bcher-kva.example", uri.IdnHost);
        Assert.True(GuardedFetcher.FetchedLength(uri) > LinkPreviewService.MaxUrl);
        Assert.NotNull(GuardedFetcher.CheckUrl(uri));

        // Percent-encoding: 400 characters of text are 2,400 on the wire.
        var encoded = new Uri("http://example.org/" + new string('é', 400));
        Assert.True(GuardedFetcher.FetchedLength(encoded) > LinkPreviewService.MaxUrl);
        Assert.NotNull(GuardedFetcher.CheckUrl(encoded));

        // A port and an IPv6 literal count as written.
        Assert.Equal("http://[2001:4860::8888]:8080/x".Length, GuardedFetcher.FetchedLength(new Uri("http://[2001:4860::8888]:8080/x")));
    }
}
