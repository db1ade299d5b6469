using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

/// <summary>A server with every optional call mapped (email, link previews, the app-server API), so the document has them all.</summary>
public sealed class OpenApiFixture : IAsyncLifetime
{
    private TestStore? _store;
    private ParleyServer? _server;

    public ParleyServer Server => _server ?? throw new InvalidOperationException("The server did not start.");

    public async ValueTask InitializeAsync()
    {
        _store = await TestStore.CreateAsync(Backend.Sqlite);
        _server = await ParleyServer.StartAsync(
            _store,
            null,
            "--Email:SmtpHost=127.0.0.1",
            "--Email:SmtpPort=2525",
            "--Email:From=parley@example.test",
            "--LinkPreviews:Enabled=true",
            "--Admin:ApiKeys:0=openapi-fixture-key-0123456789abcdef");
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }
}

/// <summary>
/// The structural promises of /openapi/v1.json that generated clients rely on (docs/api.md); the full lint and a
/// generated, compiled and exercised client are in tests/web/openapi.test.mjs.
/// </summary>
public sealed class OpenApiDocumentTests(OpenApiFixture fixture) : IClassFixture<OpenApiFixture>
{
    private static readonly string[] HttpMethods = ["get", "put", "post", "delete", "patch", "head"];

    private static readonly string[] MessageTypes = ["text", "image", "file", "audio", "video", "location", "link", "custom", "call"];

    private static readonly HashSet<string> GenericDescriptions = ["OK", "Created", "Accepted", "No Content", "Bad Request", "Unauthorized", "Forbidden", "Not Found", "Conflict", "Payload Too Large", "Unsupported Media Type", "Too Many Requests", "Service Unavailable"];

    private async Task<JsonNode> DocumentAsync() =>
        await fixture.Server.Send(HttpMethod.Get, "/openapi/v1.json").Expect(HttpStatusCode.OK);

    private static IEnumerable<(string Path, string Method, JsonObject Operation)> Operations(JsonNode document) =>
        from path in document["paths"]!.AsObject()
        from method in path.Value!.AsObject()
        where HttpMethods.Contains(method.Key)
        select (path.Key, method.Key, method.Value!.AsObject());

    private static JsonObject Schema(JsonNode document, string name) =>
        document["components"]!["schemas"]![name]?.AsObject() ?? throw new Xunit.Sdk.XunitException($"no schema {name}");

    private static string? Ref(JsonNode? node) => (string?)node?["$ref"];

    [Fact]
    public async Task Every_operation_has_a_unique_operation_id_a_summary_declared_tags_and_real_response_descriptions()
    {
        var document = await DocumentAsync();
        var operations = Operations(document).ToList();
        Assert.True(operations.Count >= 70, $"only {operations.Count} operations");
        var declaredTags = document["tags"]!.AsArray().ToDictionary(t => (string)t!["name"]!, t => (string?)t!["description"]);
        var ids = new HashSet<string>();
        foreach (var (path, method, operation) in operations)
        {
            var where = $"{method.ToUpperInvariant()} {path}";
            var id = (string?)operation["operationId"];
            Assert.False(string.IsNullOrWhiteSpace(id), $"{where}: no operationId");
            Assert.True(ids.Add(id!), $"{where}: operationId {id} is used twice");
            Assert.False(string.IsNullOrWhiteSpace((string?)operation["summary"]), $"{where}: no summary");
            var tags = operation["tags"]?.AsArray().Select(t => (string)t!).ToList() ?? [];
            Assert.NotEmpty(tags);
            Assert.All(tags, t => Assert.False(string.IsNullOrWhiteSpace(declaredTags.GetValueOrDefault(t)), $"{where}: tag {t} is not declared with a description"));

            var responses = operation["responses"]!.AsObject();
            Assert.Contains(responses, r => r.Key.StartsWith('2'));
            Assert.Contains(responses, r => r.Key.StartsWith('4'));
            foreach (var (status, response) in responses)
            {
                var description = (string?)response!["description"];
                Assert.False(string.IsNullOrWhiteSpace(description) || GenericDescriptions.Contains(description!), $"{where} {status}: description \"{description}\"");
                if (status.StartsWith('4') || status.StartsWith('5'))
                {
                    Assert.Equal("#/components/schemas/Problem", Ref(response["content"]?["application/problem+json"]?["schema"]));
                    Assert.Contains('`', description!); // names the contract codes it carries
                }
            }
        }
    }

    [Fact]
    public async Task Security_is_bearer_by_default_none_for_anonymous_calls_and_the_api_key_on_admin_calls()
    {
        var document = await DocumentAsync();
        Assert.NotNull(document["security"]![0]!["Bearer"]);
        var operations = Operations(document).ToDictionary(o => (string)o.Operation["operationId"]!, o => o.Operation);
        foreach (var anonymous in new[] { "register", "login", "refreshTokens", "logout", "requestPasswordReset", "confirmPasswordReset" })
        {
            var security = operations[anonymous]["security"]!.AsArray();
            Assert.Empty(Assert.Single(security)!.AsObject());
        }

        foreach (var (id, operation) in operations.Where(o => o.Key.StartsWith("admin", StringComparison.Ordinal)))
        {
            Assert.True(operation["security"]?[0]?["ApiKey"] is not null, $"{id} has no ApiKey requirement");
        }

        Assert.Null(operations["sendMessage"]["security"]); // the document's Bearer
    }

    [Fact]
    public async Task Message_content_is_one_of_the_types_discriminated_by_type()
    {
        var document = await DocumentAsync();
        foreach (var (union, variantOf) in new (string, Func<string, string>)[]
        {
            ("MessageDto", t => Pascal(t) + "Message"),
            ("SendMessageBody", t => "Send" + Pascal(t) + "MessageBody"),
            ("AdminMessageRequest", t => "Admin" + Pascal(t) + "MessageRequest"),
        })
        {
            var types = union == "MessageDto" ? MessageTypes : MessageTypes[..^1]; // clients never send `call`
            var schema = Schema(document, union);
            Assert.Equal("type", (string?)schema["discriminator"]!["propertyName"]);
            Assert.Equal(types.Select(t => "#/components/schemas/" + variantOf(t)), schema["oneOf"]!.AsArray().Select(Ref));
            foreach (var type in types)
            {
                Assert.Equal("#/components/schemas/" + variantOf(type), (string?)schema["discriminator"]!["mapping"]![type]);
                var own = Schema(document, variantOf(type))["allOf"]![1]!;
                Assert.Equal([type], own["properties"]!["type"]!["enum"]!.AsArray().Select(v => (string)v!));
                var content = own["properties"]!["content"]!;
                var contentRef = Ref(content) ?? Ref(content["oneOf"]![0]);
                Assert.Equal("#/components/schemas/" + Pascal(type) + "Content", contentRef);
            }
        }

        Assert.Equal(["text"], Schema(document, "TextContent")["required"]!.AsArray().Select(v => (string)v!));
        Assert.Equal(["fileId", "name", "size"], Schema(document, "FileContent")["required"]!.AsArray().Select(v => (string)v!).Order());
        Assert.Equal(["latitude", "longitude"], Schema(document, "LocationContent")["required"]!.AsArray().Select(v => (string)v!).Order());
    }

    [Fact]
    public async Task No_member_is_typed_as_anything_and_the_closed_sets_are_enums()
    {
        var document = await DocumentAsync();
        var schemas = document["components"]!["schemas"]!.AsObject();
        foreach (var gone in new[] { "JsonElement", "RawJson", "IFormFile" })
        {
            Assert.False(schemas.ContainsKey(gone), $"schema {gone} ({{}}) is still in the document");
        }

        foreach (var (name, schema) in schemas)
        {
            foreach (var (member, type) in schema!["properties"]?.AsObject() ?? [])
            {
                var typed = type!["type"] is not null || type["$ref"] is not null || type["oneOf"] is not null || type["anyOf"] is not null || type["allOf"] is not null || type["enum"] is not null;
                Assert.True(typed, $"{name}.{member} is untyped: {type.ToJsonString()}");
            }
        }

        void Enum(string schema, string member, params string[] values) =>
            Assert.Equal(values, Schema(document, schema)["properties"]![member]!["enum"]!.AsArray().Select(v => (string)v!));
        Enum("ConversationDto", "type", "direct", "group");
        Enum("GroupDto", "joinPolicy", "open", "approval", "invite");
        Enum("GroupDto", "visibility", "public", "private");
        Enum("MemberEntry", "role", "owner", "admin", "member");
        Enum("MemberPatch", "role", "admin", "member");
        Enum("JoinResult", "status", "joined", "pending");
        Enum("FriendRequestDto", "status", "pending", "accepted", "declined");
        Assert.Equal("array", (string?)Schema(document, "PublicUser")["properties"]!["tags"]!["type"]);
        Assert.Equal("array", (string?)Schema(document, "ProfilePatch")["properties"]!["tags"]!["type"]);
        Assert.Contains("rate_limited", Schema(document, "Problem")["properties"]!["code"]!["enum"]!.AsArray().Select(v => (string)v!));
        Assert.Equal("integer", (string?)Schema(document, "Tokens")["properties"]!["accessTokenExpiresAt"]!["type"]); // no "integer or string"
    }

    [Fact]
    public async Task Requests_require_only_what_the_server_requires_and_the_error_schema_fits_a_real_401()
    {
        var document = await DocumentAsync();
        IEnumerable<string> Required(string schema) => Schema(document, schema)["required"]?.AsArray().Select(v => (string)v!).Order() ?? Enumerable.Empty<string>();
        Assert.Equal(["password", "username"], Required("RegisterRequest"));
        Assert.Equal(["name"], Required("CreateGroupBody"));
        Assert.Empty(Required("ProfilePatch"));
        Assert.Empty(Required("GroupPatch"));
        Assert.Equal(["clientMsgId"], Required("SendMessageBodyBase")); // type and content: in each variant
        Assert.DoesNotContain("peerReadSeq", Required("ConversationDto"));
        Assert.DoesNotContain("peer", Required("ConversationDto"));
        Assert.NotNull(Schema(document, "ConversationDto")["properties"]!["peerReadSeq"]);

        Assert.Equal(["code", "detail", "status", "title", "type"], Required("Problem"));
        var problem = await fixture.Server.Send(HttpMethod.Get, "/api/users/me").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        var members = Schema(document, "Problem")["properties"]!.AsObject().Select(p => p.Key).ToHashSet();
        Assert.All(problem.AsObject(), m => Assert.Contains(m.Key, members));
        Assert.All(Required("Problem"), r => Assert.True(problem[r] is not null, $"a real 401 has no {r}"));
    }

    [Fact]
    public async Task The_upload_is_multipart_with_a_file_part_and_list_calls_declare_their_paging()
    {
        var document = await DocumentAsync();
        var upload = document["paths"]!["/api/files"]!["post"]!["requestBody"]!["content"]!["multipart/form-data"]!["schema"]!;
        Assert.Equal(["file"], upload["required"]!.AsArray().Select(v => (string)v!));
        Assert.Equal("binary", (string?)upload["properties"]!["file"]!["format"]);

        var operations = Operations(document).ToDictionary(o => (string)o.Operation["operationId"]!, o => o.Operation);
        string[] Query(string id) => operations[id]["parameters"]?.AsArray().Where(p => (string?)p!["in"] == "query").Select(p => (string)p!["name"]!).ToArray() ?? [];
        Assert.Equal(["q", "tags", "limit", "cursor"], Query("searchUsers"));
        Assert.Equal(["after", "before", "limit"], Query("listMessages"));
        Assert.Contains("cursor", Query("listConversations"));
        var q = operations["searchMessages"]["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "q")!;
        Assert.True((bool)q["required"]!);
    }

    private static string Pascal(string type) => char.ToUpperInvariant(type[0]) + type[1..];
}
