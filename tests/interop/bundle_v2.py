#!/usr/bin/env python3
"""protocol §5's bundle format v2, computed with PyNaCl (libsodium) and hashlib/hmac, without
the box's code.

Usage: bundle_v2.py FILE  -- reads tests/data/bundle-v2.json; rebuilds the bundle from its
inputs (keys, nonces, plaintext; the device slot's sealed box is random, so it is taken from
the file and opened instead), and prints, as JSON, what it found: the group key id, the bundle
it rebuilt (hex), and the plaintext as each slot opens it. The Rust test compares them with the
file. Exits non-zero if a slot does not open.
"""
import hashlib
import hmac
import json
import sys

from nacl.public import PrivateKey, SealedBox
from nacl.secret import SecretBox

SALT = b"identity-box/v1"
MAGIC = b"idbox-b2"


def hkdf(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(SALT, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def secretbox(key: bytes, nonce: bytes, plain: bytes) -> bytes:
    # PyNaCl's encrypt gives nonce ‖ tag ‖ ciphertext, as the slot bodies hold.
    return bytes(SecretBox(key).encrypt(plain, nonce))


def parse(bundle: bytes):
    assert bundle.startswith(MAGIC), "no v2 mark"
    count, at, slots = bundle[8], 9, []
    for _ in range(count):
        kind, sid, n = bundle[at], bundle[at + 1 : at + 17], bundle[at + 17]
        slots.append((kind, sid, bundle[at + 18 : at + 18 + n]))
        at += 18 + n
    return slots, bundle[at:]


def main() -> None:
    v = json.load(open(sys.argv[1]))
    h = lambda k: bytes.fromhex(v[k])
    bundle_key, group_key, data_key = h("bundle_key"), h("group_key"), h("data_key")
    backup_id, device_id = h("backup_id"), h("device_id")
    plain = v["plaintext"].encode()
    given = h("bundle")
    slots, payload = parse(given)
    device_body = next(b for k, i, b in slots if k == 3 and i == device_id)

    group_key_id = hkdf(group_key, b"group-key-id")[:16]
    out = MAGIC + bytes([3])
    out += bytes([1]) + backup_id + bytes([72]) + secretbox(bundle_key, h("mnemonic_nonce"), data_key)
    out += bytes([2]) + group_key_id + bytes([72]) + secretbox(group_key, h("group_nonce"), data_key)
    out += bytes([3]) + device_id + bytes([80]) + device_body
    out += secretbox(data_key, h("payload_nonce"), plain)

    opened_group_key = SealedBox(PrivateKey(h("device_secret"))).decrypt(device_body)
    by_slot = {}
    for kind, sid, body in slots:
        if kind == 1:
            key = SecretBox(bundle_key).decrypt(body)
        elif kind == 2:
            key = SecretBox(opened_group_key).decrypt(body)
        else:
            continue
        by_slot[str(kind)] = SecretBox(key).decrypt(payload).decode()
    print(
        json.dumps(
            {
                "group_key_id": group_key_id.hex(),
                "bundle": out.hex(),
                "device_slot_group_key": opened_group_key.hex(),
                "plaintext_by_slot": by_slot,
            }
        )
    )


if __name__ == "__main__":
    main()
