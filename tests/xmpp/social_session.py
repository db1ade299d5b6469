#!/usr/bin/env python3
"""A long-lived slixmpp client (Debian's python3-slixmpp) for the social gateway tests (XmppSocialTests).

It logs in, sends its initial presence (unless --no-presence), enables carbons with --carbons (XEP-0280 plugin),
then prints one JSON object per line on stdout: {"event": "session", "jid"} once, {"event": "in", "xml"} for
every stanza it receives, and the slixmpp plugin events it parsed (roster_update, got_online, got_offline,
presence_subscribe, chatstate_composing, marker_displayed, receipt_received, carbon_sent, message, result).
It reads one JSON command per line on stdin:
  {"cmd": "roster"}                           get the roster -> {"event": "result", "cmd": "roster", "items": {...}}
  {"cmd": "add", "jid"} / {"cmd": "remove", "jid"}           roster set (add = friend request, remove = unfriend)
  {"cmd": "presence", "to", "type"}           a presence stanza (subscribe, subscribed, unsubscribed, probe...)
  {"cmd": "chat", "to", "body", "id", "receipt": bool}       a chat message (with a XEP-0184 request)
  {"cmd": "composing", "to"}                  a XEP-0085 chat state
  {"cmd": "displayed", "to", "id"}            a XEP-0333 marker
  {"cmd": "raw", "xml"}                       anything else
  {"cmd": "quit"}
Every command that is no iq is answered {"event": "result", "cmd": ...} once written. Exit after --timeout.
"""
import argparse
import asyncio
import json
import sys

import slixmpp


def out(**values):
    sys.stdout.write(json.dumps(values) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=90)
    p.add_argument("--carbons", action="store_true")
    p.add_argument("--no-presence", action="store_true")
    a = p.parse_args()

    client = slixmpp.ClientXMPP(a.jid, a.password)
    for plugin in ("xep_0030", "xep_0199", "xep_0085", "xep_0184", "xep_0280", "xep_0333"):
        client.register_plugin(plugin)
    client["xep_0184"].auto_ack = False  # receipts are the test's to send
    client.roster.auto_authorize = None  # subscription requests are the test's to answer
    client.roster.auto_subscribe = False
    client["feature_mechanisms"].unencrypted_plain = True
    client.enable_starttls = False
    client.enable_direct_tls = False
    client.enable_plaintext = True
    stop = asyncio.Event()

    def incoming(stanza):
        out(event="in", xml=str(stanza))
        return stanza

    client.add_filter("in", incoming)

    async def on_session(_):
        if a.carbons:
            await client["xep_0280"].enable(timeout=20)
        if not a.no_presence:
            client.send_presence()
        out(event="session", jid=str(client.boundjid))

    client.add_event_handler("session_start", on_session)
    client.add_event_handler("roster_update", lambda iq: out(event="roster_update", items={
        str(j): {"name": i["name"], "subscription": i["subscription"]} for j, i in iq["roster"]["items"].items()}))
    client.add_event_handler("got_online", lambda pr: out(event="got_online", frm=pr["from"].bare))
    client.add_event_handler("got_offline", lambda pr: out(event="got_offline", frm=pr["from"].bare))
    client.add_event_handler("presence_subscribe", lambda pr: out(event="presence_subscribe", frm=pr["from"].bare, status=pr["status"]))
    client.add_event_handler("presence_subscribed", lambda pr: out(event="presence_subscribed", frm=pr["from"].bare))
    client.add_event_handler("chatstate_composing", lambda m: out(event="chatstate_composing", frm=m["from"].bare))
    client.add_event_handler("marker_displayed", lambda m: out(event="marker_displayed", frm=m["from"].bare, id=m["displayed"]["id"]))
    client.add_event_handler("receipt_received", lambda m: out(event="receipt_received", frm=m["from"].bare, id=m["receipt"]))
    client.add_event_handler("carbon_sent", lambda m: out(event="carbon_sent", to=m["carbon_sent"]["to"].bare,
                                                          body=m["carbon_sent"]["body"], id=m["carbon_sent"]["id"]))
    client.add_event_handler("message", lambda m: out(event="message", frm=m["from"].bare, type=m["type"], body=m["body"], id=m["id"])
                             if m["body"] else None)
    client.add_event_handler("disconnected", lambda _: stop.set())

    async def command(line):
        c = json.loads(line)
        cmd = c["cmd"]
        try:
            if cmd == "roster":
                iq = await client.get_roster(timeout=20)
                out(event="result", cmd=cmd, items={str(j): {"name": i["name"], "subscription": i["subscription"]}
                                                    for j, i in iq["roster"]["items"].items()})
                return
            if cmd in ("add", "remove"):
                iq = client.make_iq_set()
                item = {"subscription": "remove"} if cmd == "remove" else {}
                iq["roster"]["items"] = {c["jid"]: item}
                await iq.send(timeout=20)
                out(event="result", cmd=cmd, ok=True)
                return
            if cmd == "presence":
                client.send_presence(pto=c["to"], ptype=c["type"])
            elif cmd == "chat":
                m = client.make_message(mto=c["to"], mbody=c["body"], mtype="chat")
                m["id"] = c["id"]
                if c.get("receipt"):
                    m["request_receipt"] = True
                m.send()
            elif cmd == "composing":
                m = client.make_message(mto=c["to"], mtype="chat")
                m["chat_state"] = "composing"
                m.send()
            elif cmd == "displayed":
                client["xep_0333"].send_marker(mto=c["to"], id=c["id"], marker="displayed")
            elif cmd == "raw":
                client.send_raw(c["xml"])
            elif cmd == "quit":
                client.disconnect()
            out(event="result", cmd=cmd, ok=True)
        except Exception as e:  # noqa: BLE001 - reported to the test, not hidden
            error = e.iq["error"]["condition"] if hasattr(e, "iq") else repr(e)
            out(event="result", cmd=cmd, ok=False, error=error)

    async def run():
        loop = asyncio.get_event_loop()
        loop.add_reader(sys.stdin.fileno(), lambda: (lambda l: asyncio.ensure_future(command(l)) if l.strip() else stop.set())(sys.stdin.readline()))
        client.connect(address=(a.host, a.port))
        try:
            await asyncio.wait_for(stop.wait(), a.timeout)
        except asyncio.TimeoutError:
            out(event="timeout")
        client.disconnect()
        await asyncio.sleep(0)

    asyncio.get_event_loop().run_until_complete(run())


if __name__ == "__main__":
    main()
