#!/usr/bin/env python3
"""Prints the session layer's speed targets from one criterion run.

Reads the medians criterion wrote under the workspace's target directory (`criterion/`), as
cargo reports it, and prints each measured figure and each ratio with its target, so the
figures in benches/README.md come from one command and one run. Run it from anywhere in the
repository after `cargo bench -p remit-benches --bench session`.
"""
import json
import os
import subprocess
import sys


def target_directory():
    """The directory cargo builds into (and criterion writes under): what `cargo metadata` says,
    which honours CARGO_TARGET_DIR and `build.target-dir` the way `cargo bench` does."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=here, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)["target_directory"]


root = os.path.join(target_directory(), "criterion")


def median_us(group, name):
    path = os.path.join(root, group, name.replace(" ", "_").replace("/", "_"), "new", "estimates.json")
    if not os.path.exists(path):
        # criterion keeps spaces in directory names on some versions
        path = os.path.join(root, group, name, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1000.0


def main():
    m = {}
    for group, names in {
        "primitive": ["x25519 dh", "x25519 keygen", "ed25519 verify_strict", "base key torsion check",
                      "aes-256-gcm seal 1 KiB", "aes-256-gcm open 1 KiB",
                      "hmac-sha256 32 B", "hkdf-sha256 64 B"],
        "vodozemac": ["encrypt 1 KiB", "decrypt 1 KiB", "session pickle + unpickle"],
        "remit": ["encrypt 1 KiB", "decrypt 1 KiB", "decrypt 1 KiB with DH step",
                  "handshake both sides", "session save + load",
                  "session save + load, sealed"],
    }.items():
        for name in names:
            try:
                m[(group, name)] = median_us(group, name)
            except FileNotFoundError:
                print(f"missing: {group}/{name} under {root} (run the bench first)", file=sys.stderr)
                return 1
    p = lambda n: m[("primitive", n)]
    # The handshake's primitive operations, counted in spec/handshake.md §"Cost":
    # initiator: 2 verify, 2 keygen (EK, first ratchet key), 5 DH (DH1..DH4 + root step),
    #            HKDF x3 (X3DH, root, message keys), 1 seal;
    # responder: 1 verify, 1 base-key torsion check, 5 DH (DH1..DH4 + root step), HKDF x3,
    #            1 open.
    handshake_sum = (3 * p("ed25519 verify_strict") + p("base key torsion check")
                     + 2 * p("x25519 keygen") + 10 * p("x25519 dh")
                     + 6 * p("hkdf-sha256 64 B") + p("aes-256-gcm seal 1 KiB")
                     + p("aes-256-gcm open 1 KiB"))
    rows = [
        ("encrypt 1 KiB / vodozemac encrypt", m[("remit", "encrypt 1 KiB")],
         m[("vodozemac", "encrypt 1 KiB")], "<= 0.25"),
        ("decrypt 1 KiB / vodozemac decrypt", m[("remit", "decrypt 1 KiB")],
         m[("vodozemac", "decrypt 1 KiB")], "<= 1.0"),
        ("decrypt with DH step / one X25519", m[("remit", "decrypt 1 KiB with DH step")],
         p("x25519 dh"), "<= 1.3"),
        ("handshake both sides / sum of primitives", m[("remit", "handshake both sides")],
         handshake_sum, "<= 1.15"),
        ("save + load / vodozemac pickle + unpickle", m[("remit", "session save + load")],
         m[("vodozemac", "session pickle + unpickle")], "<= 0.5"),
        ("save + load + seal/open at rest / vodozemac pickle + unpickle (both encrypt)",
         m[("remit", "session save + load, sealed")],
         m[("vodozemac", "session pickle + unpickle")], "(fair comparison)"),
    ]
    print("| figure | µs (median) |")
    print("| --- | ---: |")
    for (g, n), v in sorted(m.items()):
        print(f"| {g} / {n} | {v:.2f} |")
    print()
    print("| ratio | remit µs | baseline µs | ratio | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, ours, base, target in rows:
        print(f"| {label} | {ours:.2f} | {base:.2f} | {ours / base:.2f} | {target} |")
    return 0


sys.exit(main())
