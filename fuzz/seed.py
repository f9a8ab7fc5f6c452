#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from spec/vectors/*.json (small, committed).

Run from anywhere: python3 fuzz/seed.py. Each seed file is named after what it came from.
The structure-aware targets (session_interaction, pay_thread, wire_frames) get a few fixed
pseudo-random inputs so libFuzzer starts from long operation sequences rather than nothing;
relay_core gets scenarios written in its `arbitrary` encoding (see relay_core_seeds).
"""
import json
import pathlib
import random
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors"
CORPUS = ROOT / "fuzz" / "corpus"


def load(name):
    return json.loads((VECTORS / name).read_text())


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def h(s):
    return bytes.fromhex(s)


def main():
    conv = load("session-conversation.json")
    hs = load("session-handshake.json")
    hs2 = load("session-handshake-no-otk.json")
    rec = load("session-record.json")

    envelopes = [("handshake", h(hs["envelope"])), ("handshake-no-otk", h(hs2["envelope"]))]
    envelopes += [(f"conversation-{i}", h(m["envelope"])) for i, m in enumerate(conv["messages"][:6])]
    envelopes += [(f"record-{r['name']}-next", h(r["next"]["envelope"])) for r in rec["records"]]

    # wire_decode: envelopes, bundles, payment contents and documents, frames.
    for name, env in envelopes:
        put("wire_decode", f"envelope-{name}", env)
    put("wire_decode", "bundle-handshake", h(hs["bundle"]))
    put("wire_decode", "bundle-conversation", h(conv["bob_bundle"]))
    for path in sorted(VECTORS.glob("payments-*.json")):
        v = json.loads(path.read_text())
        stem = path.stem
        if "content" in v:
            put("wire_decode", f"content-{stem}", h(v["content"]))
            put("pay_content", stem, h(v["content"]))
        for doc in ("request", "receipt"):
            if doc in v and isinstance(v[doc], dict) and "body" in v[doc]:
                put("wire_decode", f"{doc}-body-{stem}", h(v[doc]["body"]))
    env = envelopes[0][1]
    put("wire_decode", "frame-envelope", struct.pack(">I", len(env)) + env)

    # session_decrypt: a receiver selector byte, then an envelope.
    for sel in range(3):
        for name, env in envelopes[:4]:
            put("session_decrypt", f"r{sel}-{name}", bytes([sel]) + env)

    # session_records: every record in the vectors.
    for r in rec["records"]:
        put("session_records", f"session-{r['name']}", h(r["record"]))
    put("session_records", "account-handshake-bob", h(hs["bob"]["account_record"]))
    put("session_records", "account-handshake-no-otk-bob", h(hs2["bob"]["account_record"]))
    put("session_records", "session-conversation-alice", h(conv["alice_session"]))
    put("session_records", "account-conversation-bob", h(conv["bob_account"]))

    # pay_money: accepted and rejected inputs, and pairs with a quantity.
    money = load("payments-money.json")
    accepted = [a["input"] for a in money["accept"]]
    for i, a in enumerate(accepted):
        put("pay_money", f"accept-{i}", a.encode())
    for i, r in enumerate(money["reject"]):
        put("pay_money", f"reject-{i}", r["input"].encode())
    put("pay_money", "pair-usd", b"12.50 USD\n0.01 USD\n1.5")
    put("pay_money", "pair-mixed", b"7 JPY\n1.5 USDC\n0.000001")
    put("pay_money", "pair-eth", b"120000000 ETH\n0.000000000000000001 ETH\n3")

    # Structure-aware targets: fixed pseudo-random starts.
    rng = random.Random(0x52454D4954)
    for target in ("session_interaction", "pay_thread", "wire_frames"):
        for i in range(8):
            put(target, f"random-{i}", bytes(rng.randrange(256) for _ in range(64 + 64 * i)))
    stream = b"".join(struct.pack(">I", len(e)) + e for _, e in envelopes[:3])
    put("wire_frames", "stream-envelopes", b"\x02\x00" + stream)

    relay_core_seeds()


# relay_core: inputs in the `arbitrary` encoding of src/relay_core.rs's `Op` (enum variant =
# a little-endian u32 tag t with index (t * variants) >> 32; bool = low bit of a byte; Option
# and each Vec element are preceded by a bool). Keep the variant orders below in step with the
# enums there; a seed that no longer decodes as intended is still a valid input.


def tag(index, variants):
    return struct.pack("<I", ((index << 32) + variants - 1) // variants)


def u8(v):
    return bytes([v & 0xFF])


def boolean(v):
    return b"\x01" if v else b"\x00"


def vec(items):
    return b"".join(b"\x01" + i for i in items) + b"\x00"


def who_party(n):
    return tag(0, 3) + u8(n)


def who_stranger(n):
    return tag(1, 3) + u8(n)


def frame(conn, body, request_id=1, via_bytes=False, defer=False):
    return tag(0, 8) + u8(conn) + u8(request_id) + boolean(via_bytes) + boolean(defer) + body


def hello(who, long_agent=False):
    return tag(0, 9) + who + boolean(long_agent)


def auth(kind=0, arg=b""):  # AuthSig: Own, OtherConnection(u8), Impostor(u8), Flipped, Random, Short
    return tag(1, 9) + tag(kind, 6) + arg


def publish(identity=tag(0, 6), spk=tag(1, 4) + boolean(False), start=1, count=5, salt=7, bulk=None):
    b = tag(2, 9) + identity + spk + u8(start) + u8(count) + u8(salt)
    return b + (boolean(True) + u8(bulk) if bulk is not None else boolean(False))


def fetch(who):
    return tag(3, 9) + who


def send(to, message_id, length, short_id=False):
    return tag(4, 9) + to + u8(message_id) + boolean(short_id) + struct.pack("<H", length)


def ack(sels):  # AckSel: Delivered(u8), Raw(u8), Huge
    return tag(5, 9) + vec(sels)


def delivered(n):
    return tag(0, 3) + u8(n)


def garbage(conn, data):
    return tag(1, 8) + u8(conn) + vec([bytes([b]) for b in data])


def complete(conn, index):
    return tag(2, 8) + u8(conn) + u8(index)


def deliver(conn, limit=3):
    return tag(3, 8) + u8(conn) + u8(limit)


def purge():
    return tag(4, 8)


def framing_error(conn):
    return tag(5, 8) + u8(conn)


def reconnect(conn):
    return tag(6, 8) + u8(conn)


def advance(seconds):
    return tag(7, 8) + struct.pack("<H", seconds)


def login(conn, party, request_id=1):
    return frame(conn, hello(who_party(party)), request_id) + frame(conn, auth(), request_id + 1)


def relay_core_seeds():
    seeds = {
        "publish-fetch": login(0, 0)
        + frame(0, publish())
        + login(1, 1)
        + b"".join(frame(1, fetch(who_party(0)), 10 + i) for i in range(4))
        + advance(10)
        + b"".join(frame(1, fetch(who_party(0)), 20 + i) for i in range(3))
        + frame(1, fetch(who_stranger(1)))
        + frame(0, publish(spk=tag(0, 4), start=3, count=3, salt=9))
        + frame(2, hello(who_party(2))) + frame(2, auth()) + frame(2, fetch(who_party(0))),
        "send-deliver-ack": login(0, 0)
        + login(1, 1)
        + frame(0, send(who_party(1), 1, 10))
        + frame(0, send(who_party(1), 2, 50))
        + frame(0, send(who_party(1), 1, 10))
        + deliver(1, 3)
        + frame(1, ack([delivered(0), delivered(1)]), 9)
        + frame(1, send(who_party(0), 3, 20))
        + deliver(0)
        + reconnect(1)
        + login(1, 1)
        + deliver(1)
        + frame(0, send(who_party(1), 1, 12))
        + deliver(1)
        + frame(1, ack([delivered(0)]), 0),
        "quota-expiry": login(0, 2)
        + b"".join(frame(0, send(who_party(0), i, 150)) for i in range(6))
        + login(1, 0, 3)
        + deliver(1, 4)
        + advance(700)
        + deliver(1, 4)
        + purge()
        + frame(0, send(who_party(0), 5, 1))
        + deliver(1, 4),
        "forged-auth": frame(0, hello(who_party(0))) + frame(0, auth(2, u8(1)))
        + frame(1, hello(who_party(1))) + frame(1, auth(1, u8(2)))
        + frame(2, hello(who_stranger(1))) + frame(2, auth(4, bytes(range(64))))
        + frame(3, hello(who_party(2))) + frame(3, auth(3, u8(5) + u8(0x80)))
        + frame(0, send(who_party(1), 1, 5)),
        "unauthenticated": frame(0, send(who_party(1), 1, 5))
        + frame(0, fetch(who_party(1)))
        + frame(0, ack([delivered(0)]))
        + frame(1, publish())
        + frame(1, hello(who_party(1)))
        + frame(1, fetch(who_party(0)))
        + frame(1, hello(who_party(1)))
        + garbage(2, b"\x08\x01\x10\x05")
        + frame(3, hello(tag(2, 3)))
        + frame(3, hello(who_party(0), True)),
        "pipelined": frame(0, hello(who_party(0)))
        + frame(0, auth(), 2, defer=True)
        + frame(0, send(who_party(1), 1, 5), 3)
        + complete(0, 0)
        + login(1, 1)
        + frame(1, send(who_party(0), 1, 5), 4, defer=True)
        + frame(1, send(who_party(0), 2, 5), 5, defer=True)
        + frame(1, ack([delivered(0)]), 6, defer=True)
        + complete(1, 2)
        + complete(1, 0)
        + deliver(0)
        + frame(0, ack([delivered(0)]), 7, defer=True)
        + reconnect(0),
        "bulk-publish": login(0, 1)
        + b"".join(frame(0, publish(bulk=2 * i), 10 + i) for i in range(11))
        + frame(0, publish(bulk=1))
        + login(1, 2)
        + frame(1, fetch(who_party(1))),
        "strikes": login(0, 0)
        + frame(0, tag(7, 9))
        + frame(0, tag(8, 9) + u8(2))
        + frame(0, hello(who_party(0)))
        + frame(0, send(who_party(1), 1, 5))
        + login(1, 1)
        + frame(1, send(who_party(1), 1, 0))
        + frame(1, send(who_party(1), 1, 250))
        + frame(1, send(who_party(1), 1, 5, short_id=True))
        + framing_error(2),
        "via-bytes": frame(0, hello(who_party(0)), 1, via_bytes=True)
        + frame(0, auth(), 2, via_bytes=True)
        + frame(0, publish(identity=tag(3, 6) + u8(3)), 3, via_bytes=True)
        + frame(0, publish(identity=tag(1, 6) + u8(1)), 4, via_bytes=True)
        + frame(0, publish(spk=tag(2, 4) + u8(9)), 5, via_bytes=True)
        + frame(0, tag(6, 9), 6, via_bytes=True)
        + garbage(0, bytes(range(40))),
    }
    for name, data in seeds.items():
        put("relay_core", name, data)


if __name__ == "__main__":
    main()
