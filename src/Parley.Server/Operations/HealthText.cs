using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Parley.Server.Operations;

/// <summary>
/// The body of <c>/health/ready</c>: the overall status, then one line per check that is not healthy with its reason
/// (a degraded cluster bus, an unreachable database), so an operator or a balancer's log says why a node is out.
/// </summary>
public static class HealthText
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var text = report.Status.ToString();
        foreach (var (name, entry) in report.Entries)
        {
            if (entry.Status != HealthStatus.Healthy)
            {
                text += $"\n{name}: {entry.Description ?? entry.Status.ToString()}";
            }
        }

        return context.Response.WriteAsync(text);
    }
}
