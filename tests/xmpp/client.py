#!/usr/bin/env python3
"""A real XMPP client (Debian's python3-slixmpp) for Parley's gateway tests.

Prints one JSON object on stdout and exits 0 when the scenario ran (its result says what happened),
non-zero when it could not (timeout, exception). Every wait is bounded by --timeout.

  client.py --jid alice@parley.test --password PW --port 5222 login
  client.py ... chat --to bob@parley.test --id m1 --body hello --expect reply   (sends twice with the same id)
  client.py ... probe                                                           (ping + disco#info)
"""
import argparse
import asyncio
import json
import sys

import slixmpp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("mode", choices=["login", "chat", "probe"])
    p.add_argument("--to")
    p.add_argument("--id")
    p.add_argument("--body")
    p.add_argument("--expect")
    p.add_argument("--ca", help="STARTTLS, trusting this PEM (the server's self-signed certificate)")
    p.add_argument("--mech", help="the only SASL mechanism to use (slixmpp picks SCRAM-SHA-256 over PLAIN by itself)")
    a = p.parse_args()

    result = {}
    done = asyncio.Event()
    client = slixmpp.ClientXMPP(a.jid, a.password)
    client.register_plugin("xep_0030")
    client.register_plugin("xep_0199")
    if a.mech:
        client["feature_mechanisms"].use_mech = a.mech
    # Loopback tests run without TLS (Xmpp:AllowPlaintext=true); slixmpp refuses PLAIN in the clear otherwise.
    if a.ca:
        client.ca_certs = a.ca
        client.enable_direct_tls = False
    else:
        client["feature_mechanisms"].unencrypted_plain = True
        client.enable_starttls = False
        client.enable_direct_tls = False
        client.enable_plaintext = True

    def finish(**values):
        result.update(values)
        done.set()

    async def on_session(_):
        result["jid"] = str(client.boundjid)
        mech = client["feature_mechanisms"].mech
        result["mech"] = None if mech is None else mech.name

        try:
            if a.mode == "login":
                finish(ok=True)
            elif a.mode == "probe":
                await client["xep_0199"].ping(jid=client.boundjid.domain, timeout=a.timeout)
                info = await client["xep_0030"].get_info(jid=client.boundjid.domain, timeout=a.timeout)
                features = [f for f in info["disco_info"]["features"]]
                finish(ok=True, ping=True, features=features)
            elif a.mode == "chat":
                for _ in range(2):  # the second is a retry of the first: same stanza id
                    m = client.make_message(mto=a.to, mbody=a.body, mtype="chat")
                    m["id"] = a.id
                    m.send()
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            finish(ok=False, error=repr(e))

    def on_message(msg):
        if a.mode != "chat":
            return
        if msg["type"] == "error":
            finish(ok=False, error=msg["error"]["condition"], errorText=msg["error"]["text"], id=msg["id"])
            return
        if msg["body"] == a.expect:
            sid = msg.xml.find("{urn:xmpp:sid:0}stanza-id")
            finish(ok=True, frm=str(msg["from"]), body=msg["body"], type=msg["type"],
                   stanzaId=None if sid is None else sid.get("id"), stanzaBy=None if sid is None else sid.get("by"))

    client.add_event_handler("session_start", on_session)
    client.add_event_handler("message", on_message)
    client.add_event_handler("failed_auth", lambda _: finish(ok=False, error="not-authorized"))
    client.add_event_handler("stream_error", lambda e: finish(ok=False, error="stream-error:" + e["condition"]))

    async def run():
        client.connect(address=(a.host, a.port))
        try:
            await asyncio.wait_for(done.wait(), a.timeout)
        except asyncio.TimeoutError:
            print(json.dumps({"ok": False, "error": "timeout", **result}))
            sys.exit(2)
        client.disconnect()
        await asyncio.sleep(0)

    asyncio.get_event_loop().run_until_complete(run())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
