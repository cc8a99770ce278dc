"""A webhook receiver for the alert tests, verifying vaultd's signature as
docs/operations.md tells a receiver to: HMAC-SHA256 with the shared secret
over "<X-Obagent-Timestamp>.<body>", compared in constant time with
X-Obagent-Signature ("sha256=<hex>"), and the timestamp within 5 minutes.
Each POST is written to OUT_DIR as <n>.json: {verified, path, headers,
body}; a verified one is answered 200, another 401. --fail-first N answers
the first N requests 503 (vaultd must retry).

usage: webhook_sink.py --secret-file F --out DIR --port-file FILE [--fail-first N]
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import threading
import time

LOCK = threading.Lock()
STATE = {"n": 0, "failed": 0}


def verify(secret, headers, body):
    ts = headers.get("X-Obagent-Timestamp", "")
    sig = headers.get("X-Obagent-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return False
    want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        opts = self.server.opts
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            if STATE["failed"] < opts.fail_first:
                STATE["failed"] += 1
                self.send_response(503)
                self.end_headers()
                return
            STATE["n"] += 1
            n = STATE["n"]
        ok = verify(opts.secret, self.headers, body)
        record = {"verified": ok, "path": self.path, "headers": dict(self.headers),
                  "body": body.decode("utf-8", "replace")}
        tmp = os.path.join(opts.out, ".%d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(opts.out, "%d.json" % n))
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    opts = ap.parse_args()
    opts.secret = open(opts.secret_file, "rb").read().strip()
    os.makedirs(opts.out, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.opts = opts
    with open(opts.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(opts.port_file + ".tmp", opts.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
