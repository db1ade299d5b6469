using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.OpenApi;
using Parley.Server.Accounts;
using Parley.Server.Admin;
using Parley.Server.Groups;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Push;
using Parley.Server.Social;

namespace Parley.Server.Api;

/// <summary>
/// Turns the schemas generated from the C# records into the contract's shapes: the closed sets as enums, message
/// content as a <c>oneOf</c> per message type, request members required only where the server requires them,
/// members the server leaves out when null as optional, and the JsonElement members (typed <c>{}</c> by the
/// generator) with their real types. Runs once per document request, on the finished document.
/// </summary>
internal static class OpenApiSchemas
{
    /// <summary>Message types a client may send (CONTRACT.md, "Types and their content"); <c>call</c> is written by the server only.</summary>
    public static readonly string[] SendableTypes = ["text", "image", "file", "audio", "video", "location", "link", "custom"];

    public static readonly string[] MessageTypes = [.. SendableTypes, "call"];

    /// <summary>The members each request body must have: the rest are optional (the server's validation, per type).</summary>
    private static readonly Dictionary<string, string[]> RequestRequired = new()
    {
        [nameof(RegisterRequest)] = ["username", "password"],
        [nameof(LoginRequest)] = ["username", "password"],
        [nameof(RefreshRequest)] = ["refreshToken"],
        [nameof(PasswordChangeRequest)] = ["currentPassword", "newPassword"],
        [nameof(ProfilePatch)] = [],
        [nameof(FriendRequestBody)] = ["userId"],
        [nameof(RemarkBody)] = [],
        [nameof(CreateGroupBody)] = ["name"],
        [nameof(GroupPatch)] = [],
        [nameof(JoinBody)] = [],
        [nameof(UserIdsBody)] = ["userIds"],
        [nameof(MemberPatch)] = [],
        [nameof(OwnerBody)] = ["userId"],
        [nameof(CreateInviteCodeBody)] = [],
        [nameof(JoinByCodeBody)] = ["code"],
        [nameof(SendMessageBody)] = ["clientMsgId", "type", "content"],
        [nameof(DirectBody)] = ["userId"],
        [nameof(ReadBody)] = ["seq"],
        [nameof(ConversationPatch)] = [],
        [nameof(ImportUserRequest)] = ["username"],
        [nameof(TokenRequest)] = [],
        [nameof(AdminMessageRequest)] = ["from", "clientMsgId", "type", "content"],
        [nameof(ReportBody)] = ["reason"],
        [nameof(ResolveBody)] = [],
        [nameof(PushTargetBody)] = ["kind", "endpoint"],
        [nameof(Email.EmailRequest)] = ["email"],
        [nameof(Email.EmailCodeRequest)] = ["code"],
        [nameof(Email.PasswordResetConfirmRequest)] = ["email", "code", "newPassword"],
        [nameof(LinkPreviews.LinkPreviewRequest)] = ["url"],
    };

    /// <summary>Public records by name, to find the members serialized only when not null (<c>JsonIgnoreCondition.WhenWritingNull</c>).</summary>
    private static readonly Dictionary<string, Type> Records = typeof(OpenApiSchemas).Assembly.GetExportedTypes()
        .GroupBy(t => t.Name)
        .Where(g => g.Count() == 1)
        .ToDictionary(g => g.Key, g => g.Single());

    public static void Apply(OpenApiDocument document)
    {
        var schemas = document.Components?.Schemas;
        if (schemas is null)
        {
            return;
        }

        foreach (var (name, schema) in schemas)
        {
            if (schema is not OpenApiSchema s)
            {
                continue;
            }

            if (RequestRequired.TryGetValue(name, out var required))
            {
                MakeRequired(s, required);
            }
            else if (Records.TryGetValue(name, out var type))
            {
                OmitWhenNull(s, type);
            }
        }

        AddContentSchemas(document, schemas);
        Retype(document, schemas);
        ForEachSchema(document, FixNumbers);
        RemoveUnused(document, schemas, "JsonElement", "RawJson", "IFormFile");
    }

    private static void MakeRequired(OpenApiSchema schema, string[] required)
    {
        schema.Required = new HashSet<string>(required);
        foreach (var member in required)
        {
            // A required member cannot be null either: the server refuses null as it refuses absence.
            if (Get(schema.Properties, member) is OpenApiSchema property && property.Type is { } t)
            {
                property.Type = t & ~JsonSchemaType.Null;
            }
        }
    }

    private static void OmitWhenNull(OpenApiSchema schema, Type type)
    {
        if (schema.Required is null)
        {
            return;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetCustomAttribute<JsonIgnoreAttribute>() is { Condition: JsonIgnoreCondition.WhenWritingNull })
            {
                // Left out when null, so never null when present: optional, and not nullable.
                var name = JsonNamingPolicy(property.Name);
                schema.Required.Remove(name);
                switch (Get(schema.Properties, name))
                {
                    case OpenApiSchema { Type: { } t } member when t.HasFlag(JsonSchemaType.Null):
                        member.Type = t & ~JsonSchemaType.Null;
                        break;
                    case OpenApiSchema { OneOf: { Count: 2 } either } when either.Any(IsNull):
                        schema.Properties![name] = either.First(e => !IsNull(e));
                        break;
                }
            }
        }
    }

    private static bool IsNull(IOpenApiSchema schema) => schema is OpenApiSchema { Type: JsonSchemaType.Null };

    private static string JsonNamingPolicy(string name) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(name);

    /// <summary>The content of each message type, a <c>oneOf</c> of them, and the message as a union discriminated by <c>type</c>.</summary>
    private static void AddContentSchemas(OpenApiDocument document, IDictionary<string, IOpenApiSchema> schemas)
    {
        var fileId = Str("The id of an uploaded file the sender may use (its own upload, or one already in this conversation).");
        schemas["TextContent"] = Obj("Content of a `text` message.", ("text", Str("The text: at most 16 KiB (UTF-8)."), true));
        schemas["ImageContent"] = Obj(
            "Content of an `image` message.",
            ("fileId", fileId, true),
            ("width", Int("Width in pixels."), false),
            ("height", Int("Height in pixels."), false));
        schemas["FileContent"] = Obj(
            "Content of a `file` message.",
            ("fileId", fileId, true),
            ("name", Str("The file name to show."), true),
            ("size", Int("Size in bytes."), true));
        schemas["AudioContent"] = Obj(
            "Content of an `audio` message.",
            ("fileId", fileId, true),
            ("durationMs", Int("Duration in milliseconds."), true));
        schemas["VideoContent"] = Obj(
            "Content of a `video` message.",
            ("fileId", fileId, true),
            ("durationMs", Int("Duration in milliseconds."), false),
            ("width", Int("Width in pixels."), false),
            ("height", Int("Height in pixels."), false));
        schemas["LocationContent"] = Obj(
            "Content of a `location` message.",
            ("latitude", Num("Degrees, -90 to 90."), true),
            ("longitude", Num("Degrees, -180 to 180."), true),
            ("title", Str("A place name, at most 256 characters."), false));
        schemas["LinkContent"] = Obj(
            "Content of a `link` message (a preview from POST /api/link-previews fits it).",
            ("url", Str("An http or https URL."), true),
            ("title", Str("At most 256 characters."), false),
            ("description", Str("At most 1024 characters."), false),
            ("imageFileId", Str("An uploaded image shown with the link."), false));
        schemas["CustomContent"] = new OpenApiSchema
        {
            Type = JsonSchemaType.Object,
            Description = "Content of a `custom` message: any JSON object (at most 64 KiB), for the application's own kinds.",
            AdditionalPropertiesAllowed = true,
        };
        schemas["CallContent"] = Obj(
            "Content of a `call` message, written by the server when a call ends (never sent by clients).",
            ("callId", Str("The call's id."), true),
            ("media", Enum("audio", "video"), true),
            ("outcome", Enum("completed", "missed", "rejected", "busy", "unavailable", "failed"), true),
            ("durationMs", Int("How long the call lasted, for completed calls."), false));

        schemas["MessageContent"] = new OpenApiSchema
        {
            Description = "A message's `content` where its type is given beside it: the shape for that type (text: TextContent, image: ImageContent, ...).",
            AnyOf = [.. MessageTypes.Select(t => Ref(ContentOf(t), document))],
        };

        // Each shape with a message: the members every type shares, then one variant per type with its own content.
        Discriminate(document, schemas, nameof(MessageDto), "type", MessageTypes, "MessageBase", t => Pascal(t) + "Message", "Null once the message is recalled.");
        Discriminate(document, schemas, nameof(SendMessageBody), "type", SendableTypes, "SendMessageBodyBase", t => "Send" + Pascal(t) + "MessageBody", null);
        Discriminate(document, schemas, nameof(AdminMessageRequest), "type", SendableTypes, "AdminMessageRequestBase", t => "Admin" + Pascal(t) + "MessageRequest", null);
        if (Get(schemas, "MessageBase") is OpenApiSchema { Properties: { } members })
        {
            members["mentions"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Array,
                Items = Str(null),
                Description = "Mentioned user ids, or [\"all\"]; empty when none.",
            };
        }
    }

    private static string Pascal(string type) => char.ToUpperInvariant(type[0]) + type[1..];

    private static string ContentOf(string type) => Pascal(type) + "Content";

    /// <summary>
    /// Replaces schema <paramref name="name"/> (with members <c>type</c> and <c>content</c>) by a <c>oneOf</c> of one
    /// variant per type, discriminated by <c>type</c>: <c>allOf</c> the shared members and <c>{type: [t], content: TContent}</c>.
    /// </summary>
    private static void Discriminate(
        OpenApiDocument document,
        IDictionary<string, IOpenApiSchema> schemas,
        string name,
        string discriminator,
        string[] types,
        string baseName,
        Func<string, string> variantName,
        string? nullContent)
    {
        if (Get(schemas, name) is not OpenApiSchema shared || shared.Properties is null)
        {
            return;
        }

        var description = shared.Description;
        shared.Properties.Remove(discriminator);
        shared.Properties.Remove("content");
        shared.Required?.Remove(discriminator);
        shared.Required?.Remove("content");
        shared.Description = "The members every type shares.";
        schemas[baseName] = shared;
        var mapping = new Dictionary<string, OpenApiSchemaReference>();
        var variants = new List<IOpenApiSchema>();
        foreach (var type in types)
        {
            var variant = variantName(type);
            IOpenApiSchema content = nullContent is null
                ? Ref(ContentOf(type), document)
                : new OpenApiSchema { Description = nullContent, OneOf = [Ref(ContentOf(type), document), new OpenApiSchema { Type = JsonSchemaType.Null }] };
            schemas[variant] = new OpenApiSchema
            {
                Description = $"Type `{type}`.",
                AllOf =
                [
                    Ref(baseName, document),
                    new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Required = new HashSet<string> { discriminator, "content" },
                        Properties = new Dictionary<string, IOpenApiSchema> { [discriminator] = Enum(type), ["content"] = content },
                    },
                ],
            };
            mapping[type] = new OpenApiSchemaReference(variant, document);
            variants.Add(Ref(variant, document));
        }

        schemas[name] = new OpenApiSchema
        {
            Description = (description is null ? "" : description + " ") + $"`{discriminator}` says which content it carries (CONTRACT.md, \"Types and their content\").",
            OneOf = variants,
            Discriminator = new OpenApiDiscriminator { PropertyName = discriminator, Mapping = mapping },
        };
    }

    /// <summary>Enums for the contract's closed sets, and real types for the members the generator typed <c>{}</c>.</summary>
    private static void Retype(OpenApiDocument document, IDictionary<string, IOpenApiSchema> schemas)
    {
        var tags = new OpenApiSchema { Type = JsonSchemaType.Array, Items = Str(null), Description = "Tags: short lowercase words." };
        string[] joinPolicies = ["open", "approval", "invite"], visibilities = ["public", "private"];
        Set(schemas, nameof(ProfilePatch), "nickname", Str("At most 64 characters; not another user's username."));
        Set(schemas, nameof(ProfilePatch), "bio", Nullable(Str("At most 512 characters; null clears it.")));
        Set(schemas, nameof(ProfilePatch), "avatarFileId", Nullable(Str("An image the caller uploaded; null removes the avatar.")));
        Set(schemas, nameof(ProfilePatch), "tags", tags);
        Set(schemas, nameof(CreateGroupBody), "tags", tags);
        Set(schemas, nameof(CreateGroupBody), "joinPolicy", Enum(joinPolicies));
        Set(schemas, nameof(CreateGroupBody), "visibility", Enum(visibilities));
        Set(schemas, nameof(GroupPatch), "name", Str(null));
        Set(schemas, nameof(GroupPatch), "description", Nullable(Str(null)));
        Set(schemas, nameof(GroupPatch), "tags", tags);
        Set(schemas, nameof(GroupPatch), "announcement", Nullable(Str(null)));
        Set(schemas, nameof(GroupPatch), "joinPolicy", Enum(joinPolicies));
        Set(schemas, nameof(GroupPatch), "visibility", Enum(visibilities));
        Set(schemas, nameof(GroupPatch), "membersCanInvite", new OpenApiSchema { Type = JsonSchemaType.Boolean });
        Set(schemas, nameof(GroupPatch), "idleTtlSeconds", Int("Temporary groups only: seconds without a message before the group is deleted."));
        Set(schemas, nameof(GroupPatch), "avatarFileId", Nullable(Str("An image the caller uploaded; null removes the avatar.")));
        Set(schemas, nameof(MemberPatch), "role", Enum("admin", "member"));
        Set(schemas, nameof(MemberPatch), "mutedUntil", Nullable(Int("Epoch milliseconds until which the member cannot send; null unmutes.")));
        Set(schemas, nameof(ReportDto), "messageType", Enum(MessageTypes));
        Set(schemas, nameof(ReportDto), "content", new OpenApiSchema
        {
            Description = "The reported message's content as it was; null if it was recalled.",
            OneOf = [Ref("MessageContent", document), new OpenApiSchema { Type = JsonSchemaType.Null }],
        });
        Set(schemas, nameof(ReportDto), "status", Enum("open", "resolved"));
        Set(schemas, nameof(ConversationDto), "type", Enum("direct", "group"));
        Set(schemas, nameof(GroupDto), "joinPolicy", Enum(joinPolicies));
        Set(schemas, nameof(GroupDto), "visibility", Enum(visibilities));
        Set(schemas, nameof(MemberEntry), "role", Enum("owner", "admin", "member"));
        Set(schemas, nameof(FriendRequestDto), "status", Enum("pending", "accepted", "declined"));
        Set(schemas, nameof(JoinRequestDto), "status", Enum("pending", "approved", "declined"));
        Set(schemas, nameof(JoinResult), "status", Enum("joined", "pending"));
        Set(schemas, nameof(PushTargetBody), "kind", Enum(PushEndpoints.KindWebhook));
        Set(schemas, nameof(PushTargetDto), "kind", Enum(PushEndpoints.KindWebhook));
        Set(schemas, nameof(Problem), "code", Enum(typeof(ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).ToArray()));

        // The contract's peerReadSeq (direct conversations only); optional, so the document holds with or without it.
        if (Get(schemas, nameof(ConversationDto)) is OpenApiSchema conversation && conversation.Properties is { } members)
        {
            members.TryAdd("peerReadSeq", Int("Direct conversations only: how far the peer has read."));
            conversation.Required?.Remove("peerReadSeq");
        }
    }

    private static void Set(IDictionary<string, IOpenApiSchema> schemas, string schema, string member, IOpenApiSchema type)
    {
        if (Get(schemas, schema) is OpenApiSchema { Properties: { } properties } && properties.ContainsKey(member))
        {
            properties[member] = type;
        }
    }

    /// <summary>The generator types a long as "integer or numeric string" (the web defaults read both); Parley reads numbers only.</summary>
    private static void FixNumbers(OpenApiSchema schema)
    {
        if (schema.Type is { } t && (t.HasFlag(JsonSchemaType.Integer) || t.HasFlag(JsonSchemaType.Number)) && t.HasFlag(JsonSchemaType.String))
        {
            schema.Type = t & ~JsonSchemaType.String;
            schema.Pattern = null;
        }
    }

    /// <summary>Calls <paramref name="visit"/> on every schema of the document, components and inline ones.</summary>
    private static void ForEachSchema(OpenApiDocument document, Action<OpenApiSchema> visit)
    {
        foreach (var schema in AllSchemas(document))
        {
            if (schema is OpenApiSchema s)
            {
                visit(s);
            }
        }
    }

    private static IEnumerable<IOpenApiSchema> AllSchemas(OpenApiDocument document)
    {
        var roots = new List<IOpenApiSchema>(document.Components?.Schemas?.Values ?? []);
        foreach (var operation in (document.Paths ?? []).Values.SelectMany(p => p.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>()))
        {
            roots.AddRange((operation.Parameters ?? []).Select(p => p.Schema).OfType<IOpenApiSchema>());
            roots.AddRange((operation.RequestBody?.Content ?? new Dictionary<string, OpenApiMediaType>()).Values.Select(m => m.Schema).OfType<IOpenApiSchema>());
            roots.AddRange((operation.Responses ?? []).Values.SelectMany(r => r.Content?.Values ?? []).Select(m => m.Schema).OfType<IOpenApiSchema>());
        }

        var stack = new Stack<IOpenApiSchema>(roots);
        while (stack.TryPop(out var schema))
        {
            yield return schema;
            if (schema is not OpenApiSchema s)
            {
                continue; // a reference: its target is among the components
            }

            foreach (var child in (s.Properties?.Values ?? []).Concat(s.AllOf ?? []).Concat(s.OneOf ?? []).Concat(s.AnyOf ?? []))
            {
                stack.Push(child);
            }

            if (s.Items is { } items)
            {
                stack.Push(items);
            }

            if (s.AdditionalProperties is { } additional)
            {
                stack.Push(additional);
            }
        }
    }

    private static void RemoveUnused(OpenApiDocument document, IDictionary<string, IOpenApiSchema> schemas, params string[] names)
    {
        var used = AllSchemas(document).OfType<OpenApiSchemaReference>().Select(r => r.Reference.Id).ToHashSet();
        foreach (var name in names)
        {
            if (!used.Contains(name))
            {
                schemas.Remove(name);
            }
        }
    }

    private static IOpenApiSchema? Get(IDictionary<string, IOpenApiSchema>? schemas, string name) =>
        schemas is not null && schemas.TryGetValue(name, out var schema) ? schema : null;

    private static OpenApiSchema Str(string? description) => new() { Type = JsonSchemaType.String, Description = description };

    private static OpenApiSchema Int(string? description) => new() { Type = JsonSchemaType.Integer, Format = "int64", Description = description };

    private static OpenApiSchema Num(string? description) => new() { Type = JsonSchemaType.Number, Format = "double", Description = description };

    private static OpenApiSchema Enum(params string[] values) =>
        new() { Type = JsonSchemaType.String, Enum = [.. values.Select(v => (JsonNode)JsonValue.Create(v))] };

    private static OpenApiSchema Nullable(OpenApiSchema schema)
    {
        schema.Type |= JsonSchemaType.Null;
        if (schema.Enum is { } values)
        {
            values.Add(null!); // an enum restricts the value itself, so null must be one of them
        }

        return schema;
    }

    private static OpenApiSchemaReference Ref(string id, OpenApiDocument document) => new(id, document);

    private static OpenApiSchema Obj(string description, params (string Name, IOpenApiSchema Schema, bool Required)[] members) => new()
    {
        Type = JsonSchemaType.Object,
        Description = description,
        Required = new HashSet<string>(members.Where(m => m.Required).Select(m => m.Name)),
        Properties = members.ToDictionary(m => m.Name, m => m.Schema),
    };
}
