#!/usr/bin/env python3
"""Debian's slixmpp with XEP-0198 (plugin xep_0198) for Parley's stream management tests, driven line by line.

Prints one JSON event per line on stdout (flushed): enabled {id}, session {jid}, resumed, failed, disconnected,
message {body, id, stanzaId}, r (the server asked for an ack), acked {n} (the server acknowledged our stanzas).
Reads commands on stdin: drop (abort the TCP connection, no </stream:stream>), reconnect, send TO ID BODY,
ackreq (ask the server for an ack), close (a clean </stream:stream>), quit. Every wait is bounded by --timeout.

  sm_client.py --jid bob@parley.test --password PW --port 5222 [--resume-id ID]
"""
import argparse
import asyncio
import json
import sys

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath


def emit(**values):
    print(json.dumps(values), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--resume-id", help="try to resume this id first (someone else's, an expired one)")
    a = p.parse_args()

    client = slixmpp.ClientXMPP(a.jid, a.password)
    client.register_plugin("xep_0030")
    client.register_plugin("xep_0198")
    client["feature_mechanisms"].unencrypted_plain = True  # loopback tests: Xmpp:AllowPlaintext=true
    client.enable_starttls = False
    client.enable_direct_tls = False
    client.enable_plaintext = True
    sm = client["xep_0198"]
    if a.resume_id:
        sm.sm_id = a.resume_id
    acked = [0]

    client.add_event_handler("sm_enabled", lambda s: emit(event="enabled", id=s["id"], resume=s["resume"], max=s["max"]))
    client.add_event_handler("session_start", lambda _: emit(event="session", jid=str(client.boundjid)))
    client.add_event_handler("session_resumed", lambda _: emit(event="resumed", jid=str(client.boundjid)))
    client.add_event_handler("sm_failed", lambda s: emit(event="failed", condition=s.xml[0].tag.split('}')[-1] if len(s.xml) else None))
    client.add_event_handler("disconnected", lambda _: emit(event="disconnected"))
    client.add_event_handler("failed_auth", lambda _: emit(event="auth-failed"))
    client.add_event_handler("stream_error", lambda e: emit(event="stream-error", condition=e["condition"], text=e["text"]))

    def on_acked(_):
        acked[0] += 1
        emit(event="acked", n=acked[0])

    client.add_event_handler("stanza_acked", on_acked)
    client.register_handler(Callback("sm r seen", MatchXPath("{urn:xmpp:sm:3}r"), lambda _: emit(event="r"), instream=True))

    def on_message(msg):
        sid = msg.xml.find("{urn:xmpp:sid:0}stanza-id")
        emit(event="message", type=msg["type"], frm=str(msg["from"]), body=msg["body"], id=msg["id"],
             stanzaId=None if sid is None else sid.get("id"))

    client.add_event_handler("message", on_message)

    async def commands():
        loop = asyncio.get_event_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "quit":
                return
            cmd, *rest = line.split(" ", 3)
            if cmd == "drop":
                client.transport.abort()  # an RST, no closing of the stream: the network went away
            elif cmd == "reconnect":
                client.connect(address=(a.host, a.port))
            elif cmd == "send":
                to, mid, body = rest
                m = client.make_message(mto=to, mbody=body, mtype="chat")
                m["id"] = mid
                m.send()
            elif cmd == "ackreq":
                sm.request_ack()
            elif cmd == "close":
                client.disconnect()
            emit(event="done", cmd=cmd)

    async def run():
        client.connect(address=(a.host, a.port))
        try:
            await asyncio.wait_for(commands(), a.timeout)
        except asyncio.TimeoutError:
            emit(event="timeout")
            sys.exit(2)

    asyncio.get_event_loop().run_until_complete(run())


if __name__ == "__main__":
    main()
