#!/usr/bin/env python3
"""Write seed inputs for fuzz_handler and fuzz_proto: valid frames per docs/PROTOCOL.md."""
import os
import struct
import sys

def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b

def frame(t, body=b""):
    return struct.pack(">IB", len(body) + 1, t) + body

def sign(key, alg, dlen, prog="", url="", t=0x10):
    return frame(t, s(key) + s(alg) + s(bytes(range(dlen))) + s(prog) + s(url))

seeds = {
    "hello": frame(0x01, struct.pack(">I", 1)),
    "sign-sha256": sign("", "sha256", 32),
    "sign-sha512-opus": sign("k", "sha512", 64, "Update for KB1", "https://x.example/"),
    "sign-sha1": sign("k", "sha1", 20),
    "sign-retired": sign("old", "sha384", 48),
    "sign-unicode": sign("", "sha256", 32, "Mise \u00e0 jour \u2603", "http://a/"),
    "sign-script": sign("", "sha256", 32, "Intune scripts", t=0x20),
    "sign-script-sha384": sign("k", "sha384", 48, t=0x20),
    "get-cert": frame(0x12, s("k")),
    "list-keys": frame(0x14),
    "status": frame(0x16),
}
seeds["pipeline"] = b"".join(seeds.values())
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "handler")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(data)
