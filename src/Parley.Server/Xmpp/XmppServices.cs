using Parley.Server.Xmpp.Handlers;

namespace Parley.Server.Xmpp;

/// <summary>The gateway's wiring: nothing but the options while <c>Xmpp:Port</c> is 0. Next stages add their handlers here.</summary>
public static class XmppServices
{
    public static IServiceCollection AddXmpp(this IServiceCollection services, IConfiguration config)
    {
        var options = config.GetSection(XmppOptions.Section).Get<XmppOptions>() ?? new XmppOptions();
        options.Validate(); // a bad setting fails the start
        services.Configure<XmppOptions>(config.GetSection(XmppOptions.Section));
        if (!options.Enabled)
        {
            return services;
        }

        if (options.Certificate is { Length: > 0 } pem)
        {
            services.AddSingleton(new XmppTls(pem)); // loaded now: a bad PEM fails the start
        }

        services.AddSingleton<XmppDirectory>();
        services.AddSingleton<XmppOutbound>();
        services.AddSingleton<XmppRouter>();
        services.AddSingleton<XmppStreamHandler>();

        // xsm: XEP-0198 stream management (acks, resumption).
        services.AddSingleton<XmppResumption>();
        services.AddSingleton<IXmppNonzaHandler, StreamManagementHandler>();

        services.AddSingleton<XmppListener>();
        services.AddHostedService(sp => sp.GetRequiredService<XmppListener>());
        services.AddHostedService<XmppKeepalive>();

        // iq handlers, by payload namespace (XmppRouter); disco#info lists their features.
        services.AddSingleton<IXmppIqHandler, PingHandler>();
        services.AddSingleton<IXmppIqHandler, DiscoHandler>();
        services.AddSingleton<IXmppIqHandler, DiscoItemsHandler>();
        services.AddSingleton<IXmppIqHandler, SessionHandler>();

        // message / presence handlers, in their Order.
        services.AddSingleton<IXmppStanzaHandler, ChatMessageHandler>();

        // server frame -> stanza translators, by frame type (XmppOutbound).
        services.AddSingleton<IXmppFrameTranslator, MessageFrameTranslator>();
        services.AddSingleton<IXmppFrameTranslator, ErrorFrameTranslator>();
        return services;
    }
}
