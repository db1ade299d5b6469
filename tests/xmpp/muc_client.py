#!/usr/bin/env python3
"""slixmpp (Debian's python3-slixmpp) as a MUC / MAM client for Parley's gateway tests (XmppMucTests).

Prints one JSON object as its last stdout line; every wait is bounded by --timeout.

  muc_client.py --jid a@d --password PW --port P join --room R@conference.d --nick a [--maxstanzas N]
                [--id X --body B]  (sent twice with one id: a retry)  [--expect TEXT]  (waits for it from another nick)
                [--disco]          (disco#info of the room, disco#items of the service)
  muc_client.py ... mam [--archive ROOM] [--with J] --max N   (pages forward with after, then back with before)
"""
import argparse
import asyncio
import json
import sys

import slixmpp
from slixmpp.exceptions import IqError, PresenceError
from slixmpp.xmlstream.handler import Collector
from slixmpp.xmlstream.matcher import MatchXMLMask


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("mode", choices=["join", "mam"])
    p.add_argument("--room")
    p.add_argument("--nick")
    p.add_argument("--maxstanzas", type=int)
    p.add_argument("--id")
    p.add_argument("--body")
    p.add_argument("--expect")
    p.add_argument("--disco", action="store_true")
    p.add_argument("--archive")
    p.add_argument("--with", dest="with_jid")
    p.add_argument("--max", type=int, default=10)
    a = p.parse_args()

    result = {}
    done = asyncio.Event()
    client = slixmpp.ClientXMPP(a.jid, a.password)
    for plugin in ("xep_0030", "xep_0045", "xep_0059", "xep_0313", "xep_0359"):
        client.register_plugin(plugin)
    client["feature_mechanisms"].unencrypted_plain = True
    client.enable_starttls = False
    client.enable_direct_tls = False
    client.enable_plaintext = True

    reflections = []
    others = []
    history = []

    def finish(**values):
        result.update(values)
        done.set()

    def sid_of(msg):
        sid = msg.xml.find("{urn:xmpp:sid:0}stanza-id")
        return None if sid is None else {"id": sid.get("id"), "by": sid.get("by")}

    def maybe_done():
        if a.mode != "join":
            return
        if a.body is not None and len(reflections) < 2:
            return
        if a.expect is not None and not any(o["body"] == a.expect for o in others):
            return
        finish(ok=True, reflections=reflections, others=others, history=history)

    def on_groupchat(msg):
        if msg["type"] == "error":
            finish(ok=False, error=msg["error"]["condition"], errorText=msg["error"]["text"], id=msg["id"])
            return
        if not msg["body"]:
            return
        entry = {"frm": str(msg["from"]), "body": msg["body"], "id": msg["id"], "sid": sid_of(msg)}
        if msg.xml.find("{urn:xmpp:delay}delay") is not None:
            return  # history: collected from the join result
        if msg["from"].resource == a.nick and msg["id"] == a.id:
            reflections.append(entry)
        else:
            others.append(entry)
        maybe_done()

    async def on_session(_):
        result["jid"] = str(client.boundjid)
        try:
            if a.mode == "join":
                room = slixmpp.JID(a.room)
                try:
                    joined = await client["xep_0045"].join_muc_wait(room, a.nick, maxstanzas=a.maxstanzas, timeout=a.timeout)
                except PresenceError as e:
                    finish(ok=False, error=e.presence["error"]["condition"], errorText=e.presence["error"]["text"])
                    return
                pres, subject, occupants, joined_history = joined
                codes = sorted(int(c) for c in pres["muc"]["status_codes"])
                result.update(codes=codes, selfFrom=str(pres["from"]),
                              affiliation=pres["muc"]["affiliation"], role=pres["muc"]["role"],
                              subject=subject["subject"], occupants=[str(o["from"]) for o in occupants])
                history.extend({"body": m["body"], "frm": str(m["from"]), "id": m["id"], "sid": sid_of(m)} for m in joined_history)
                if a.disco:
                    info = await client["xep_0030"].get_info(jid=room, timeout=a.timeout)
                    items = await client["xep_0030"].get_items(jid=room.domain, timeout=a.timeout)
                    result.update(roomFeatures=list(info["disco_info"]["features"]),
                                  roomItems=[i[0] for i in items["disco_items"]["items"]])
                if a.body is not None:
                    for _ in range(2):  # the second is a retry: same id
                        m = client.make_message(mto=room, mbody=a.body, mtype="groupchat")
                        m["id"] = a.id
                        m.send()
                maybe_done()
            elif a.mode == "mam":
                archive = slixmpp.JID(a.archive) if a.archive else None
                with_jid = slixmpp.JID(a.with_jid) if a.with_jid else None

                async def page(rsm):
                    # xep_0313.retrieve() as it is, except that the RSM values are set as given: it str()s them,
                    # so it cannot send the empty <before/> that asks for the last page.
                    iq, mask = client["xep_0313"]._pre_mam_retrieve(archive, None, None, with_jid, None)
                    for key, value in rsm.items():
                        iq["mam"]["rsm"][key] = value
                    collector = Collector("MAM_Results_%s" % iq["id"], MatchXMLMask(str(mask)))
                    client.register_handler(collector)
                    try:
                        answer = await iq.send(timeout=a.timeout)
                    finally:
                        results = collector.stop()
                    fin = answer["mam_fin"]
                    ids = [m["mam_result"]["id"] for m in results]
                    bodies = [m["mam_result"]["forwarded"]["stanza"]["body"] for m in results]
                    return {"ids": ids, "bodies": bodies, "complete": fin.xml.get("complete") == "true",
                            "first": fin["rsm"]["first"], "last": fin["rsm"]["last"]}

                try:
                    forward = [await page({"max": str(a.max)})]
                    while not forward[-1]["complete"] and len(forward) < 20:
                        forward.append(await page({"max": str(a.max), "after": forward[-1]["last"]}))
                    backward = [await page({"max": str(a.max), "before": True})]
                    while not backward[-1]["complete"] and len(backward) < 20:
                        backward.append(await page({"max": str(a.max), "before": backward[-1]["first"]}))
                except IqError as e:
                    finish(ok=False, error=e.iq["error"]["condition"], errorText=e.iq["error"]["text"])
                    return
                finish(ok=True, forward=forward, backward=backward)
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            finish(ok=False, error=repr(e))

    client.add_event_handler("session_start", on_session)
    client.add_event_handler("groupchat_message", on_groupchat)
    client.add_event_handler("failed_auth", lambda _: finish(ok=False, error="not-authorized"))
    client.add_event_handler("stream_error", lambda e: finish(ok=False, error="stream-error:" + e["condition"]))

    async def run():
        client.connect(address=(a.host, a.port))
        try:
            await asyncio.wait_for(done.wait(), a.timeout)
        except asyncio.TimeoutError:
            print(json.dumps({"ok": False, "error": "timeout", **result, "reflections": reflections, "others": others}))
            sys.exit(2)
        client.disconnect()
        await asyncio.sleep(0)

    asyncio.get_event_loop().run_until_complete(run())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
