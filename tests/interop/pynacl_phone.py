#!/usr/bin/env python3
"""A phone written with PyNaCl (libsodium), to prove the wire format is plain NaCl (protocol §2, §3).

Usage: pynacl_phone.py 'idbox://pair?…'
Pairs with the box of the URI, calls box.info through the channel, and prints the result as JSON.
Uses only PyNaCl and the standard library; exits non-zero on any mismatch.
"""
import base64
import hashlib
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from nacl.public import Box, PrivateKey, PublicKey
from nacl.utils import random


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def main():
    uri = sys.argv[1]
    assert uri.startswith("idbox://pair?"), uri
    q = urllib.parse.parse_qs(uri[len("idbox://pair?"):])
    assert q["v"] == ["1"]
    box_key = PublicKey(unb64u(q["key"][0]))
    token = q["token"][0]
    addr = q["addr"][0]
    base = f"http://{addr}"

    status, info = http("GET", base + "/v1/info")
    assert status == 200, info
    assert info["agreement_key"] == q["key"][0], "a box with another key answered"
    offset = info["time"] - int(time.time())

    device = PrivateKey.generate()
    box = Box(device, box_key)
    nonce = random(Box.NONCE_SIZE)
    payload = json.dumps({"token": token, "device_name": "PyNaCl phone",
                          "ts": int(time.time()) + offset}).encode()
    sealed = box.encrypt(payload, nonce).ciphertext  # tag || ciphertext, like crypto_box_easy
    status, answer = http("POST", base + "/v1/pair", {
        "v": 1, "device_key": b64u(bytes(device.public_key)), "nonce": b64u(nonce),
        "box": b64u(sealed)})
    assert status == 200, answer
    a = json.loads(box.decrypt(unb64u(answer["box"]), unb64u(answer["nonce"])))
    assert a["request_nonce"] == b64u(nonce), a
    device_id = hashlib.sha256(bytes(device.public_key)).hexdigest()[:32]
    assert a["device_id"] == device_id, (a, device_id)

    nonce = random(Box.NONCE_SIZE)
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "box.info", "params": {},
                          "ts": int(time.time()) + offset}).encode()
    status, reply = http("POST", base + "/v1/rpc", {
        "device": device_id, "nonce": b64u(nonce),
        "box": b64u(box.encrypt(request, nonce).ciphertext)})
    assert status == 200, reply
    response = json.loads(box.decrypt(unb64u(reply["box"]), unb64u(reply["nonce"])))
    assert response["request_nonce"] == b64u(nonce), response
    assert response["id"] == 1 and "result" in response, response
    print(json.dumps({"role": a["role"], "result": response["result"]}))


if __name__ == "__main__":
    main()
