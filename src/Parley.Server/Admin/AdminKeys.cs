using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Parley.Server.Http;

namespace Parley.Server.Admin;

/// <summary>Settings of the app-server API (section <c>Admin</c>).</summary>
public sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>The keys an app server presents in <c>X-Api-Key</c>; empty (the default) switches /api/admin/* off (404).</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Keys shorter than this are refused at startup: a guessable key is a root password.</summary>
    public const int MinKeyLength = 16;
}

/// <summary>
/// The app server's keys, held only as SHA-256 hashes. A presented key is hashed and compared with every configured
/// hash in constant time (equal lengths, no early exit), so neither the key nor how much of it matched leaks
/// through timing. Keys are never logged.
/// </summary>
public sealed class AdminKeys
{
    public const string HeaderName = "X-Api-Key";
    public const string SchemeName = "ApiKey";

    private readonly byte[][] _hashes;

    public AdminKeys(AdminOptions options)
    {
        // A blank entry is a mistake (an unset variable in a deployment template), never "no key": fail the start.
        if (options.ApiKeys.Any(string.IsNullOrWhiteSpace))
        {
            throw new InvalidOperationException("Admin:ApiKeys: an entry is empty or only whitespace; remove it or set a key (use e.g. `openssl rand -hex 32`).");
        }

        var keys = options.ApiKeys.Select(k => k.Trim()).ToList();
        if (keys.Any(k => k.Length < AdminOptions.MinKeyLength || k.Length > 512))
        {
            throw new InvalidOperationException($"Admin:ApiKeys: every key must be {AdminOptions.MinKeyLength}-512 characters (use e.g. `openssl rand -hex 32`).");
        }

        _hashes = keys.Select(Hash).ToArray();
    }

    /// <summary>False when no key is configured: every admin call answers 404.</summary>
    public bool Enabled => _hashes.Length > 0;

    public bool IsValid(string presented)
    {
        var hash = Hash(presented);
        var match = false;
        foreach (var expected in _hashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(hash, expected);
        }

        return match;
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}

/// <summary>Marks an endpoint as authenticated by <c>X-Api-Key</c> (read by the OpenAPI transformer).</summary>
public sealed class AdminKeyMetadata
{
    public static readonly AdminKeyMetadata Instance = new();
}

/// <summary>
/// The key check of every /api/admin/* call, as an endpoint filter so that any group of admin endpoints (the
/// webhook calls too) gets it with <see cref="AdminKeyExtensions.RequireAdminKey"/>: 404 when no key is configured,
/// 401 <c>unauthorized</c> for a missing, repeated or wrong header. Runs before the handler reads the body, so an
/// unauthenticated request costs no body parsing. Only the header counts; a key in the query string is ignored.
/// </summary>
public sealed class AdminKeyFilter(AdminKeys keys) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (!keys.Enabled)
        {
            return new(new ProblemResult(Refusal.NotFound("Resource")));
        }

        var values = context.HttpContext.Request.Headers[AdminKeys.HeaderName];
        if (values.Count != 1 || string.IsNullOrEmpty(values[0]) || values[0]!.Length > 512 || !keys.IsValid(values[0]!))
        {
            return new(new ProblemResult(new Refusal(401, ErrorCodes.Unauthorized, $"A valid {AdminKeys.HeaderName} header is required.")));
        }

        return next(context);
    }
}

public static class AdminKeyExtensions
{
    /// <summary>Requires a valid <c>X-Api-Key</c> on the endpoint (or every endpoint of a group), and says so in the OpenAPI document.</summary>
    public static TBuilder RequireAdminKey<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.AddEndpointFilter<TBuilder, AdminKeyFilter>();
        builder.WithMetadata(AdminKeyMetadata.Instance);
        return builder;
    }

    /// <summary>The <c>ApiKey</c> security scheme, and on admin operations it instead of the document's Bearer requirement.</summary>
    public static void AddAdminKeyScheme(this OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[AdminKeys.SchemeName] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = AdminKeys.HeaderName,
                Description = "A key of the setting Admin:ApiKeys (server-to-server calls under /api/admin).",
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<AdminKeyMetadata>().Any())
            {
                operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(AdminKeys.SchemeName, context.Document)] = [] }];
            }

            return Task.CompletedTask;
        });
    }
}
