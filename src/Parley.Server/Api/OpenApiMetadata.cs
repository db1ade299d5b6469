namespace Parley.Server.Api;

/// <summary>A query parameter a handler reads from <c>HttpContext.Request.Query</c>, declared for the OpenAPI document.</summary>
public sealed record QueryParameterMetadata(string Name, string Description, string Kind = "string", bool Required = false, IReadOnlyList<string>? Values = null);

/// <summary>The contract codes one error status of one operation can carry (its description lists them).</summary>
public sealed record ErrorCodesMetadata(int Status, IReadOnlyList<string> Codes);

/// <summary>
/// Endpoint metadata for the OpenAPI document (docs/api.md): nothing here changes what an endpoint does, only how
/// it is described. Operation ids and summaries come from the built-in <c>WithName</c> and <c>WithSummary</c>.
/// </summary>
public static class OpenApiMetadata
{
    /// <summary>A response with a JSON body of <typeparamref name="T"/> and what it means.</summary>
    public static RouteHandlerBuilder Returns<T>(this RouteHandlerBuilder builder, int status, string description) =>
        builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(T), ["application/json"]) { Description = description });

    /// <summary>A response without a body (204, 202).</summary>
    public static RouteHandlerBuilder Returns(this RouteHandlerBuilder builder, int status, string description) =>
        builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(void), null) { Description = description });

    /// <summary>A response whose body is a stored file's bytes (declared as octet-stream; the real Content-Type is the sniffed one).</summary>
    public static RouteHandlerBuilder ReturnsBytes(this RouteHandlerBuilder builder, int status, string description) =>
        builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(Stream), ["application/octet-stream"]) { Description = description });

    public static RouteHandlerBuilder Query(this RouteHandlerBuilder builder, string name, string description, string kind = "string", bool required = false, params string[] values) =>
        builder.WithMetadata(new QueryParameterMetadata(name, description, kind, required, values.Length == 0 ? null : values));

    /// <summary>The contract's paging parameters, <c>limit</c> and <c>cursor</c>.</summary>
    public static RouteHandlerBuilder Paged(this RouteHandlerBuilder builder) => builder
        .Query("limit", "Items per page: 1-200, default 50.", "integer")
        .Query("cursor", "The `nextCursor` of the previous page; absent for the first page.");

    /// <summary>Names the contract codes that <paramref name="status"/> carries on this operation.</summary>
    public static RouteHandlerBuilder FailsWith(this RouteHandlerBuilder builder, int status, params string[] codes) =>
        builder.WithMetadata(new ErrorCodesMetadata(status, codes));
}
