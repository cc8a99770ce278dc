#!/usr/bin/env python3
"""Writes an object straight into vaultd's storage, past vaultd: what a storage
fault, a replica or a storage-level restore does. vaultd refuses a machine's
PUT over an existing object (write-once), so tests that need a damaged object
make it here.

  storage_put.py local ROOT KEY FILE
  storage_put.py azure ENDPOINT ACCOUNT KEYFILE CONTAINER KEY FILE

KEY is the full storage key ("machines/<id>/data/ab/…"). Azure: one Put Blob
signed with the account key (SharedKey), as the Blob REST API documents it.
"""
import base64
import datetime
import hashlib
import hmac
import os
import sys
import urllib.parse
import urllib.request


def put_local(root, key, data):
    path = os.path.join(root, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), ".tmp-fault")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def put_azure(endpoint, account, key_b64, container, key, data):
    url = endpoint.rstrip("/") + "/" + container + "/" + urllib.parse.quote(key)
    path = urllib.parse.urlsplit(url).path
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    ms = {"x-ms-blob-type": "BlockBlob", "x-ms-date": date, "x-ms-version": "2021-08-06"}
    to_sign = "\n".join([
        "PUT", "", "", str(len(data)) if data else "", "", "application/octet-stream",
        "", "", "", "", "", "",
    ]) + "\n" + "".join(f"{k}:{ms[k]}\n" for k in sorted(ms)) + "/" + account + path
    mac = hmac.new(base64.b64decode(key_b64), to_sign.encode(), hashlib.sha256).digest()
    req = urllib.request.Request(url, data=data, method="PUT")
    for k, v in ms.items():
        req.add_header(k, v)
    req.add_header("Content-Type", "application/octet-stream")
    req.add_header("Authorization", f"SharedKey {account}:{base64.b64encode(mac).decode()}")
    with urllib.request.urlopen(req) as r:
        if r.status != 201:
            sys.exit(f"Put Blob {key}: HTTP {r.status}")


def main():
    kind = sys.argv[1]
    if kind == "local":
        root, key, file = sys.argv[2:5]
        put_local(root, key, open(file, "rb").read())
    elif kind == "azure":
        endpoint, account, keyfile, container, key, file = sys.argv[2:8]
        put_azure(endpoint, account, open(keyfile).read().strip(), container, key,
                  open(file, "rb").read())
    else:
        sys.exit("usage: storage_put.py local|azure ...")


main()
