"""A small SMTP server for the alert tests: ESMTP with STARTTLS (python3's
ssl), AUTH PLAIN and LOGIN (offered only after STARTTLS), and every message
it accepts written to OUT_DIR as <n>.json: {tls, user, mail_from, rcpt_to,
data} with the DATA un-dot-stuffed. It refuses MAIL before STARTTLS and
before AUTH when --user is given, as a careful mail server does.

usage: smtp_sink.py --cert PEM --key PEM --out DIR --port-file FILE
                    [--user U --password P]
"""
import argparse
import base64
import json
import os
import socketserver
import ssl
import threading

COUNTER = [0]
LOCK = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def send(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def line(self):
        raw = self.rfile.readline(4096)
        if not raw:
            raise EOFError
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def handle(self):
        opts = self.server.opts
        tls = False
        user = None
        mail_from = None
        rcpt = []
        self.send("220 sink.test ESMTP ready")
        try:
            while True:
                cmd = self.line()
                verb = cmd.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    ext = ["sink.test greets you", "8BITMIME"]
                    if tls:
                        ext.append("AUTH PLAIN LOGIN")
                    else:
                        ext.append("STARTTLS")
                    for e in ext[:-1]:
                        self.send("250-" + e)
                    self.send("250 " + ext[-1])
                elif verb == "STARTTLS" and not tls:
                    self.send("220 go ahead")
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    ctx.load_cert_chain(opts.cert, opts.key)
                    conn = ctx.wrap_socket(self.connection, server_side=True)
                    self.connection = conn
                    self.rfile = conn.makefile("rb")
                    self.wfile = conn.makefile("wb")
                    tls = True
                elif verb == "AUTH":
                    if not tls:
                        self.send("538 encryption required")
                        continue
                    parts = cmd.split(" ")
                    mech = parts[1].upper() if len(parts) > 1 else ""
                    if mech == "PLAIN":
                        blob = parts[2] if len(parts) > 2 else ""
                        fields = base64.b64decode(blob).split(b"\0")
                        u, p = fields[1].decode(), fields[2].decode()
                    elif mech == "LOGIN":
                        self.send("334 VXNlcm5hbWU6")
                        u = base64.b64decode(self.line()).decode()
                        self.send("334 UGFzc3dvcmQ6")
                        p = base64.b64decode(self.line()).decode()
                    else:
                        self.send("504 unknown mechanism")
                        continue
                    if u == opts.user and p == opts.password:
                        user = u
                        self.send("235 ok")
                    else:
                        self.send("535 bad credentials")
                elif verb == "MAIL":
                    if not tls:
                        self.send("530 must issue STARTTLS first")
                    elif opts.user and not user:
                        self.send("530 authentication required")
                    else:
                        mail_from = cmd[len("MAIL FROM:"):]
                        rcpt = []
                        self.send("250 ok")
                elif verb == "RCPT":
                    if mail_from is None:
                        self.send("503 need MAIL first")
                    else:
                        rcpt.append(cmd[len("RCPT TO:"):])
                        self.send("250 ok")
                elif verb == "DATA":
                    if not rcpt:
                        self.send("503 need RCPT first")
                        continue
                    self.send("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while True:
                        raw = self.rfile.readline(1 << 20)
                        if not raw:
                            raise EOFError
                        if raw == b".\r\n":
                            break
                        if raw.startswith(b"."):
                            raw = raw[1:]
                        lines.append(raw)
                    data = b"".join(lines).decode("utf-8", "replace")
                    with LOCK:
                        COUNTER[0] += 1
                        n = COUNTER[0]
                    record = {"tls": tls, "user": user, "mail_from": mail_from,
                              "rcpt_to": rcpt, "data": data}
                    tmp = os.path.join(opts.out, ".%d.tmp" % n)
                    with open(tmp, "w") as f:
                        json.dump(record, f)
                    os.rename(tmp, os.path.join(opts.out, "%d.json" % n))
                    mail_from, rcpt = None, []
                    self.send("250 queued as %d" % n)
                elif verb == "RSET":
                    mail_from, rcpt = None, []
                    self.send("250 ok")
                elif verb == "NOOP":
                    self.send("250 ok")
                elif verb == "QUIT":
                    self.send("221 bye")
                    return
                else:
                    self.send("500 unknown command")
        except (EOFError, ConnectionError, ssl.SSLError, OSError):
            return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    opts = ap.parse_args()
    os.makedirs(opts.out, exist_ok=True)
    server = Server(("127.0.0.1", 0), Handler)
    server.opts = opts
    with open(opts.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(opts.port_file + ".tmp", opts.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
