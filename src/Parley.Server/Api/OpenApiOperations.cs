using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Parley.Server.Admin;
using Parley.Server.Http;

namespace Parley.Server.Api;

/// <summary>
/// Fills in what endpoint metadata cannot say by itself: the query parameters handlers read from the request,
/// who may call (Bearer, X-Api-Key or nobody), what each error status means with its contract codes, the
/// multipart body of the upload, and distinct operation ids for the HEAD twins of GET.
/// </summary>
internal static class OpenApiOperations
{
    public static Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var description = context.Description;
        var metadata = description.ActionDescriptor.EndpointMetadata;
        var admin = metadata.OfType<AdminKeyMetadata>().Any();
        var authorized = metadata.OfType<IAuthorizeData>().Any();

        // One handler answers GET and HEAD (files): the same name would give two operations one id.
        if (string.Equals(description.HttpMethod, HttpMethods.Head, StringComparison.OrdinalIgnoreCase))
        {
            operation.OperationId = operation.OperationId is { } id ? id + "Head" : null;
            operation.Summary = operation.Summary is { } summary ? summary + " (headers only)" : null;
        }

        if (!admin && !authorized)
        {
            // An empty requirement: this call needs no credentials (the document's default is Bearer).
            operation.Security = [new OpenApiSecurityRequirement()];
        }

        // The handlers take {seq} as text to answer a malformed one with 404, but it is a message's seq: a number.
        foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>().Where(p => p is { In: ParameterLocation.Path, Name: "seq" }))
        {
            parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64", Minimum = "1" };
            parameter.Description = "The message's seq in the conversation.";
        }

        foreach (var query in metadata.OfType<QueryParameterMetadata>())
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = query.Name,
                In = ParameterLocation.Query,
                Description = query.Description,
                Required = query.Required,
                Schema = new OpenApiSchema
                {
                    Type = query.Kind == "integer" ? JsonSchemaType.Integer : JsonSchemaType.String,
                    Format = query.Kind == "integer" ? "int64" : null,
                    Enum = query.Values?.Select(v => (JsonNode)JsonValue.Create(v)).ToList(),
                },
            });
        }

        if (operation.RequestBody?.Content is { } content && content.TryGetValue("multipart/form-data", out var multipart))
        {
            multipart.Schema = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Required = new HashSet<string> { "file" },
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["file"] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.String,
                        Format = "binary",
                        Description = "The file's bytes (one part named `file`; its file name is kept, its type is sniffed from the bytes).",
                    },
                },
            };
        }

        // What each success means, from Returns(...) (the generator itself writes only "OK", "Created"...).
        foreach (var declared in metadata.OfType<ProducesResponseTypeMetadata>())
        {
            if (declared.Description is { } meaning && operation.Responses?.GetValueOrDefault(declared.StatusCode.ToString(CultureInfo.InvariantCulture)) is OpenApiResponse response)
            {
                response.Description = meaning;
            }
        }

        var codes = metadata.OfType<ErrorCodesMetadata>().ToDictionary(m => m.Status, m => m.Codes);
        foreach (var (status, response) in operation.Responses ?? [])
        {
            if (response is OpenApiResponse concrete && int.TryParse(status, out var code) && code >= 400)
            {
                concrete.Description = Describe(code, codes.GetValueOrDefault(code) ?? DefaultCodes(code, admin), admin);
            }
        }

        return Task.CompletedTask;
    }

    private static IReadOnlyList<string> DefaultCodes(int status, bool admin) => status switch
    {
        401 when !admin => [ErrorCodes.Unauthorized, ErrorCodes.TokenExpired],
        416 => [ErrorCodes.Invalid],
        _ => [ErrorCodes.ForStatus(status)],
    };

    private static string Describe(int status, IReadOnlyList<string> codes, bool admin)
    {
        var reasons = codes.Select(c => $"`{c}`: {Meaning(c, status, admin)}");
        var title = status == 416 ? "Range Not Satisfiable" : ProblemWriter.Title(status);
        return $"{title} (problem+json). " + string.Join(" ", reasons);
    }

    /// <summary>What each contract code means (CONTRACT.md, "Conventions"), for the error responses' descriptions.</summary>
    private static string Meaning(string code, int status, bool admin) => code switch
    {
        ErrorCodes.Invalid when status == 416 => "the requested byte range lies outside the file.",
        ErrorCodes.Invalid => "a body member, path or query parameter is missing or malformed; `errors` names each field and what is wrong.",
        ErrorCodes.Unauthorized when admin => "the X-Api-Key header is missing or not one of Admin:ApiKeys.",
        ErrorCodes.Unauthorized => "no valid credentials (a missing, malformed or revoked token).",
        ErrorCodes.TokenExpired => "the token has expired (refresh the access token, or log in again for a refresh token).",
        ErrorCodes.TokenReused => "a retired refresh token was presented again; its whole device session is now revoked.",
        ErrorCodes.InvalidCredentials => "unknown username or wrong password (the same answer for both).",
        ErrorCodes.Forbidden => "the caller's role or membership does not allow this.",
        ErrorCodes.Blocked => "the other user has blocked the caller.",
        ErrorCodes.NotFriends => "direct messages need friendship (setting Messaging:DirectMessages).",
        ErrorCodes.Muted => "the caller is muted in this group until `mutedUntil`.",
        ErrorCodes.RecallWindowPassed => "the sender's recall window (Messaging:RecallWindowSeconds, 120) is over.",
        ErrorCodes.Rejected => "refused by moderation (blocked words) or by the app server's before-send hook.",
        ErrorCodes.Disabled => "the account is disabled by the app server.",
        ErrorCodes.NotFound when admin => "no such resource, or the app-server API is off (Admin:ApiKeys is empty).",
        ErrorCodes.NotFound => "no such resource, or not the caller's to know (a private group, another user's file).",
        ErrorCodes.Conflict => "the current state does not allow it (already done, already a member, a limit reached).",
        ErrorCodes.UsernameTaken => "that username is taken (compared case-insensitively).",
        ErrorCodes.TooLarge => "the body or file exceeds its size limit.",
        ErrorCodes.UnsupportedMediaType => "the body's Content-Type is not the one this call reads.",
        ErrorCodes.RateLimited => "too many requests; retry after the seconds in `Retry-After`.",
        ErrorCodes.Unavailable => "storage or a service this call needs is unreachable; retry after the seconds in `Retry-After`.",
        _ => "see the contract's error codes.",
    };
}
