#!/usr/bin/env python3
"""An IPNS implementation independent of the box's: names and record verification.

Written from the IPNS and libp2p peer-id specifications with only PyNaCl, so that a record
the box signs (with rust-ipns) is checked by code that shares nothing with it.

    ipns_check.py name <ed25519 public key hex>
        prints the peer id (base58btc) and the IPNS name (base36 CIDv1 libp2p-key)
    ipns_check.py record <ipns name> <record b64u> [<now unix>]
        verifies the record against the name and prints {"value", "seq", "validity", "ttl"} as JSON
    ipns_check.py cid <json document>
        prints the CIDv1 (DAG-JSON, SHA-256, base32) of the document's canonical DAG-JSON bytes
"""

import base64
import datetime
import hashlib
import json
import sys

from nacl.signing import VerifyKey

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def encode_base(data: bytes, alphabet: str) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, len(alphabet))
        out = alphabet[r] + out
    zeros = len(data) - len(data.lstrip(b"\0"))
    return alphabet[0] * zeros + out


def decode_base(text: str, alphabet: str) -> bytes:
    n = 0
    for c in text:
        n = n * len(alphabet) + alphabet.index(c)
    zeros = len(text) - len(text.lstrip(alphabet[0]))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def protobuf_key(pub: bytes) -> bytes:
    # libp2p PublicKey { Type = Ed25519 (1), Data = pub }
    return bytes([0x08, 0x01, 0x12, 0x20]) + pub


def peer_id_bytes(pub: bytes) -> bytes:
    key = protobuf_key(pub)
    return bytes([0x00, len(key)]) + key  # identity multihash


def ipns_name(pub: bytes) -> str:
    return "k" + encode_base(bytes([0x01, 0x72]) + peer_id_bytes(pub), B36)


def pub_from_name(name: str) -> bytes:
    assert name.startswith("k"), "not base36"
    raw = decode_base(name[1:], B36)
    assert raw[:2] == bytes([0x01, 0x72]), "not a CIDv1 libp2p-key"
    mh = raw[2:]
    assert mh[0] == 0x00 and mh[1] == len(mh) - 2, "not an identity multihash"
    key = mh[2:]
    assert key[:4] == bytes([0x08, 0x01, 0x12, 0x20]) and len(key) == 36, "not an ed25519 key"
    return key[4:]


def varint(buf: bytes, i: int):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def protobuf_fields(buf: bytes) -> dict:
    fields, i = {}, 0
    while i < len(buf):
        tag, i = varint(buf, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 2:
            length, i = varint(buf, i)
            value, i = buf[i : i + length], i + length
        else:
            raise ValueError(f"unexpected wire type {wire}")
        fields[number] = value
    return fields


def cbor(buf: bytes, i: int = 0):
    """Decodes the CBOR subset an IPNS record's data uses: maps, strings, bytes, unsigned ints."""
    head = buf[i]
    major, info = head >> 5, head & 0x1F
    i += 1
    if info < 24:
        arg = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        arg = int.from_bytes(buf[i : i + size], "big")
        i += size
    if major == 0:
        return arg, i
    if major == 2:
        return buf[i : i + arg], i + arg
    if major == 3:
        return buf[i : i + arg].decode(), i + arg
    if major == 5:
        out = {}
        for _ in range(arg):
            k, i = cbor(buf, i)
            v, i = cbor(buf, i)
            out[k] = v
        return out, i
    raise ValueError(f"unexpected CBOR major type {major}")


def verify_record(name: str, record: bytes, now: float) -> dict:
    pub = pub_from_name(name)
    key = VerifyKey(pub)
    f = protobuf_fields(record)
    data = f[9]
    parsed, end = cbor(data)
    assert end == len(data), "trailing bytes after the CBOR data"
    # V2: signature over "ipns-signature:" ‖ data
    key.verify(b"ipns-signature:" + data, f[8])
    # V1 fields must repeat the CBOR data, and the V1 signature must hold too.
    assert f[1] == parsed["Value"], "V1 value differs from data"
    assert f[4] == parsed["Validity"], "V1 validity differs from data"
    assert f[3] == parsed["ValidityType"] == 0, "validity type is not EOL"
    assert f[5] == parsed["Sequence"], "V1 sequence differs from data"
    key.verify(f[1] + f[4] + b"EOL", f[2])
    validity = parsed["Validity"].decode()
    eol = datetime.datetime.fromisoformat(validity.replace("Z", "+00:00")[:26] + "+00:00")
    assert eol.timestamp() > now, f"record expired at {validity}"
    return {
        "value": parsed["Value"].decode(),
        "seq": parsed["Sequence"],
        "validity": validity,
        "ttl": parsed["TTL"],
    }


def dag_json_cid(doc) -> str:
    # DAG-JSON's canonical form: keys sorted by their bytes, no whitespace.
    data = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    # CIDv1 ‖ dag-json (0x0129 as a varint) ‖ sha2-256 multihash
    cid = bytes([0x01, 0xA9, 0x02, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


def main(argv):
    if argv[1] == "name":
        pub = bytes.fromhex(argv[2])
        print(json.dumps({"peer_id": encode_base(peer_id_bytes(pub), B58), "name": ipns_name(pub)}))
    elif argv[1] == "record":
        now = float(argv[4]) if len(argv) > 4 else datetime.datetime.now().timestamp()
        record = base64.urlsafe_b64decode(argv[3] + "=" * (-len(argv[3]) % 4))
        print(json.dumps(verify_record(argv[2], record, now)))
    elif argv[1] == "cid":
        print(dag_json_cid(json.loads(argv[2])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
