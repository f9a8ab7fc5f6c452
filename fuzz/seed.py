#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from spec/vectors/*.json (small, committed).

Run from anywhere: python3 fuzz/seed.py. Each seed file is named after what it came from.
The structure-aware targets (session_interaction, pay_thread, wire_frames) get a few fixed
pseudo-random inputs so libFuzzer starts from long operation sequences rather than nothing.
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


if __name__ == "__main__":
    main()
