#!/usr/bin/env python3
"""Independent verifier of an eidas-bridge journal checkpoint (C2SP tlog-checkpoint in a C2SP
signed-note, Ed25519), written from the specifications only, using the `cryptography` package.

Usage: verify_checkpoint.py VKEY_FILE CHECKPOINT_FILE
Exit 0 and print "ok <origin> <size> <root-hex>" when valid; exit 1 with a reason otherwise;
exit 2 on usage errors.
"""
import base64
import hashlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def fail(reason):
    print("invalid: " + reason)
    sys.exit(1)


def parse_vkey(text):
    # <name>+<hex key id>+<base64(0x01 || 32-byte key)>; the base64 part may contain '+'.
    name, key_id, key_b64 = text.strip().split("+", 2)
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        fail("verifier key is not Ed25519")
    pub = raw[1:]
    want = hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]
    if bytes.fromhex(key_id) != want:
        fail("verifier key id does not match")
    return name, want, Ed25519PublicKey.from_public_bytes(pub)


def main():
    if len(sys.argv) != 3:
        print("usage: verify_checkpoint.py VKEY_FILE CHECKPOINT_FILE", file=sys.stderr)
        sys.exit(2)
    name, key_id, pub = parse_vkey(open(sys.argv[1], encoding="utf-8").read())
    note = open(sys.argv[2], "rb").read().decode("utf-8")
    if "\n\n" not in note or not note.endswith("\n"):
        fail("no blank line between text and signatures")
    split = note.index("\n\n")
    text, sigs = note[: split + 1], note[split + 2 :]
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        fail("checkpoint body must have 3 lines")
    origin, size, root_b64 = lines
    if not size.isdigit() or (len(size) > 1 and size[0] == "0"):
        fail("bad size line")
    root = base64.b64decode(root_b64, validate=True)
    if len(root) != 32:
        fail("root hash is not 32 bytes")
    verified = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            fail("bad signature line")
        sig_name, sig_b64 = line[2:].split(" ", 1)
        raw = base64.b64decode(sig_b64, validate=True)
        if sig_name == name and raw[:4] == key_id:
            try:
                pub.verify(raw[4:], text.encode("utf-8"))
            except InvalidSignature:
                fail("signature does not verify")
            verified = True
    if not verified:
        fail("no signature by the given key")
    if origin != name:
        fail("origin is not the key name")
    print("ok %s %s %s" % (origin, size, root.hex()))


if __name__ == "__main__":
    main()
