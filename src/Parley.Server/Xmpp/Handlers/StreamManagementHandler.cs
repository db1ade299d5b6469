using System.Globalization;
using System.Xml.Linq;

namespace Parley.Server.Xmpp.Handlers;

/// <summary>
/// XEP-0198 nonzas of a bound stream: <c>&lt;enable/&gt;</c> (with resumption when asked for and
/// <c>Xmpp:ResumeSeconds</c> is above 0), <c>&lt;r/&gt;</c> (answered with the inbound count) and <c>&lt;a/&gt;</c>
/// (drops what the client acknowledged). <c>&lt;resume/&gt;</c> comes before bind (<see cref="XmppStreamHandler"/>).
/// </summary>
public sealed class StreamManagementHandler(XmppResumption resumption) : IXmppNonzaHandler
{
    public string Namespace => StreamManagement.Namespace;

    public string? StreamFeature => $"<sm xmlns='{StreamManagement.Namespace}'/>";

    public ValueTask HandleAsync(XmppStream stream, XElement element, CancellationToken cancellationToken)
    {
        var sm = stream.Sm;
        switch (element.Name.LocalName)
        {
            case "enable" when !sm.Enabled:
            {
                var wanted = (string?)element.Attribute("resume") is "true" or "1";
                var window = resumption.Window;
                string? id = null;
                if (wanted && window > TimeSpan.Zero)
                {
                    id = resumption.Register(stream);
                }

                sm.Enable(id);
                var seconds = (long)window.TotalSeconds;
                if (long.TryParse((string?)element.Attribute("max"), NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max > 0)
                {
                    seconds = Math.Min(seconds, max); // the client's wish, when shorter (the window itself stays ours)
                }

                var enabled = id is null
                    ? $"<enabled xmlns='{StreamManagement.Namespace}'/>"
                    : $"<enabled xmlns='{StreamManagement.Namespace}' id='{id}' resume='true' max='{seconds}'/>";
                stream.Connection.TrySendControl(StreamManagement.ControlEnable, enabled);
                break;
            }

            case "enable":
                stream.Send(XmppStreamHandler.SmFailed("unexpected-request"));
                break;
            case "r" when sm.Enabled:
                stream.Send($"<a xmlns='{StreamManagement.Namespace}' h='{sm.Handled}'/>");
                break;
            case "a" when sm.Enabled:
                if (!uint.TryParse((string?)element.Attribute("h"), NumberStyles.None, CultureInfo.InvariantCulture, out var h))
                {
                    stream.Connection.CloseWithStreamError("invalid-xml", "the h of <a/> is no number");
                }
                else if (!sm.Ack(h, clamp: false, out var sent))
                {
                    stream.Connection.CloseWithStreamError("undefined-condition", $"handled-count-too-high: h {h}, {sent} sent");
                }

                break;
            default:
                // <r/> or <a/> before <enable/>, <resume/> after bind, anything else of the namespace.
                stream.Send(XmppStreamHandler.SmFailed("unexpected-request"));
                break;
        }

        return ValueTask.CompletedTask;
    }
}
