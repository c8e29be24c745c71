#!/usr/bin/env python3
"""protocol §5's derivations, computed without the box's code: BIP39 decoding with the reference
implementation's word list (python-mnemonic), HKDF-SHA256 written out from RFC 5869 over
hashlib/hmac, and X25519 public keys from PyNaCl (libsodium).

Usage: backup_vectors.py FILE  -- reads {"cases":[{"mnemonic",...}]} and prints, as JSON, the
values it derives for each case: entropy, backup_id, bundle_key, recipient_secret,
recipient_public (hex). The Rust test compares them with the file and with its own.
"""
import hashlib
import hmac
import json
import sys
import unicodedata

from mnemonic import Mnemonic
from nacl.public import PrivateKey

SALT = b"identity-box/v1"


def hkdf(ikm: bytes, info: str, length: int = 32) -> bytes:
    prk = hmac.new(SALT, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info.encode() + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def entropy_of(words: str) -> bytes:
    normal = " ".join(unicodedata.normalize("NFKD", words).lower().split())
    m = Mnemonic("english")
    if not m.check(normal):
        raise SystemExit(f"invalid mnemonic: {normal!r}")
    return bytes(m.to_entropy(normal))


def main() -> None:
    cases = json.load(open(sys.argv[1]))["cases"]
    result = []
    for case in cases:
        m = entropy_of(case["mnemonic"])
        secret = hkdf(m, "box-keys-recipient")
        result.append(
            {
                "entropy": m.hex(),
                "backup_id": hkdf(m, "backup-id")[:16].hex(),
                "bundle_key": hkdf(m, "bundle-key").hex(),
                "recipient_secret": secret.hex(),
                "recipient_public": bytes(PrivateKey(secret).public_key).hex(),
            }
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
