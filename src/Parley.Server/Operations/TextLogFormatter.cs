using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Parley.Server.Operations;

/// <summary>
/// The default console format: one line per entry, <c>warn: Category: message (trace T span S)</c>, exceptions below.
/// The in-box <c>simple</c> formatter always prints the event id, and the ids that <c>[LoggerMessage]</c>
/// generates are hashes (<c>[1113842211]</c>) that tell a reader nothing; the trace and span of the request or
/// frame being handled do (recorded only when traces are exported: <c>Telemetry:OtlpEndpoint</c>). <c>json</c> keeps every field for machines.
/// </summary>
public sealed class TextLogFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "text";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        textWriter.Write(logEntry.LogLevel switch
        {
            LogLevel.Trace => "trce: ",
            LogLevel.Debug => "dbug: ",
            LogLevel.Information => "info: ",
            LogLevel.Warning => "warn: ",
            LogLevel.Error => "fail: ",
            LogLevel.Critical => "crit: ",
            _ => "none: ",
        });
        textWriter.Write(logEntry.Category);
        textWriter.Write(": ");
        // Keep one entry on one line: a message never carries a newline into the next entry's place.
        textWriter.Write(message?.ReplaceLineEndings(" "));
        if (Activity.Current is { } activity)
        {
            textWriter.Write(" (trace ");
            textWriter.Write(activity.TraceId.ToHexString());
            textWriter.Write(" span ");
            textWriter.Write(activity.SpanId.ToHexString());
            textWriter.Write(')');
        }

        textWriter.Write(Environment.NewLine);
        if (logEntry.Exception is { } exception)
        {
            foreach (var line in exception.ToString().AsSpan().EnumerateLines())
            {
                textWriter.Write("      ");
                textWriter.Write(line);
                textWriter.Write(Environment.NewLine);
            }
        }
    }

    /// <summary>Registers the formatter and makes it the default (<c>Logging:Console:FormatterName</c> still wins).</summary>
    public static void Use(ILoggingBuilder logging)
    {
        logging.AddConsoleFormatter<TextLogFormatter, ConsoleFormatterOptions>();
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName ??= FormatterName);
    }
}
