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

        // xsocial: roster = friends, presence, chat states, markers/receipts, carbons (Xmpp/Social, docs/xmpp.md).
        services.AddSingleton<Social.XmppSocial>();
        services.AddSingleton<IXmppIqHandler, Social.RosterHandler>();
        services.AddSingleton<IXmppIqHandler, Social.CarbonsHandler>();
        services.AddSingleton<IXmppStanzaHandler, Social.PresenceHandler>();
        services.AddSingleton<IXmppStanzaHandler, Social.SocialMessageHandler>();
        services.AddSingleton<IXmppFrameTranslator, Social.PresenceFrameTranslator>();
        services.AddSingleton<IXmppFrameTranslator, Social.PresenceSnapshotTranslator>();
        services.AddSingleton<IXmppFrameTranslator, Social.TypingFrameTranslator>();
        services.AddSingleton<IXmppFrameTranslator, Social.ReadFrameTranslator>();
        services.AddSingleton<IXmppFrameTranslator, Social.NotifyFrameTranslator>();
        services.AddSingleton<Social.IXmppNotifyTranslator, Social.FriendNotifyTranslator>();

        // xmuc: XEP-0045 rooms = groups, XEP-0313 MAM + XEP-0059 RSM from the history.
        services.AddSingleton<MucRooms>();
        services.AddSingleton<MucDisco>();
        services.AddSingleton<MucOutbound>();
        services.AddSingleton<IXmppStanzaHandler, MucPresenceHandler>();
        services.AddSingleton<IXmppStanzaHandler, MucMessageHandler>();
        services.AddSingleton<IXmppIqHandler, MamHandler>();
        services.AddSingleton<IXmppFrameTranslator, SentFrameTranslator>();
        return services;
    }
}
