using System.Globalization;
using Parley.Storage;

namespace Parley.Server.Http;

/// <summary>
/// Every HTTP error leaves as problem+json with a contract code: ApiExceptions from handlers, bad requests
/// that Kestrel or routing detects, and (as 500 without details) anything unexpected.
/// </summary>
public sealed partial class ProblemMiddleware(RequestDelegate next, ILogger<ProblemMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (ApiException e) when (!context.Response.HasStarted)
        {
            if (e.RetryAfterSeconds is { } retry)
            {
                context.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
            }

            await ProblemWriter.WriteAsync(context, e.Status, e.Code, e.Message, e.Errors);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            await ProblemWriter.WriteAsync(context, e.StatusCode, ErrorCodes.ForStatus(e.StatusCode), e.StatusCode == 413 ? "The request body is too large." : "The request could not be read.");
        }
        catch (Exception e) when (!context.Response.HasStarted && Database.IsUnavailable(e))
        {
            // PostgreSQL is down or restarting: the client may retry, and the pool reconnects once it is back.
            if (DatabaseOutage.ShouldLog(out var suppressed))
            {
                LogDatabaseUnavailable(logger, e.GetType().Name, e.Message, suppressed, context.Request.Method, context.Request.Path);
            }

            context.Response.Headers.RetryAfter = DatabaseOutage.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            await ProblemWriter.WriteAsync(context, 503, ErrorCodes.Unavailable, DatabaseOutage.Detail);
        }
        catch (Npgsql.PostgresException e) when (!context.Response.HasStarted && e.SqlState.StartsWith("22", StringComparison.Ordinal))
        {
            // Class 22 is "data exception": a value the client sent that the database cannot hold. Validation
            // should have caught it; this keeps a gap in validation from turning into a 500.
            LogDataException(logger, e.SqlState, context.Request.Method, context.Request.Path);
            await ProblemWriter.WriteAsync(context, 400, ErrorCodes.Invalid, "A value in the request cannot be stored.");
        }
        catch (InvalidOperationException e) when (!context.Response.HasStarted && IsJsonTextError(e))
        {
            // A safety net: the JSON converters refuse strings that are no Unicode text as a body is read, but a
            // JsonElement decoded later (GetString, GetRawText) throws this rather than a JsonException. Either
            // way the body is the client's mistake, whichever field it was read for.
            LogJsonTextError(logger, context.Request.Method, context.Request.Path);
            await ProblemWriter.WriteAsync(context, 400, ErrorCodes.Invalid, "A string in the body is not valid Unicode text.");
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            LogUnhandled(logger, e, context.Request.Method, context.Request.Path);
            await ProblemWriter.WriteAsync(context, 500, ErrorCodes.Internal, "An unexpected error occurred.");
        }
    }

    private static bool IsJsonTextError(InvalidOperationException e) =>
        e.TargetSite?.DeclaringType?.Namespace == "System.Text.Json" && e.Message.Contains("UTF-16", StringComparison.Ordinal);

    /// <summary>Gives a body to bare error statuses (no route, wrong method) that nothing else wrote.</summary>
    public static Task WriteBareStatusAsync(HttpContext context)
    {
        var status = context.Response.StatusCode;
        return ProblemWriter.WriteAsync(context, status, ErrorCodes.ForStatus(status), ProblemWriter.DefaultDetail(status));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The database is unavailable ({Error}: {Reason}; {Suppressed} more since the last report); answered 503 to {Method} {Path}")]
    private static partial void LogDatabaseUnavailable(ILogger logger, string error, string reason, long suppressed, string method, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database refused a request value ({SqlState}) for {Method} {Path}")]
    private static partial void LogDataException(ILogger logger, string sqlState, string method, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "A string that is not Unicode text reached a handler for {Method} {Path}; answered 400")]
    private static partial void LogJsonTextError(ILogger logger, string method, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);
}
