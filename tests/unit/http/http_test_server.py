"""The local HTTP server the HttpClient tests talk to (tests/unit/http),
started and stopped by ctest fixtures so the same test runs natively on
Linux and under Wine. Beside it runs tests/e2e/proxy.py (Basic auth
user/secret) for the proxy tests.

Usage: http_test_server.py start STATE_FILE PROXY_PY   (returns when ready)
       http_test_server.py stop STATE_FILE
STATE_FILE holds "server_port proxy_port closed_port tls_port pid":
closed_port had a listener a moment ago and has none now (for
connection-refused tests); tls_port serves the same over TLS with a fresh
self-signed certificate no client trusts (made with the openssl tool)."""
import http.server
import os
import re
import signal
import socket
import subprocess
import ssl
import sys
import threading
import time

DATA = bytes(i % 251 for i in range(4096))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        path = self.path.split("?", 1)[0]
        if path == "/hello":
            self.reply(200, b"hello, world\n", [("Content-Type", "text/plain"),
                                                ("ETag", '"v1"'), ("X-Test-Header", "yes")])
        elif path == "/data":
            rng = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
            if not rng:
                self.reply(200, DATA)
                return
            first, last = int(rng.group(1)), min(int(rng.group(2)), len(DATA) - 1)
            if first >= len(DATA):
                self.reply(416, b"", [("Content-Range", f"bytes */{len(DATA)}")])
                return
            self.reply(206, DATA[first:last + 1],
                       [("Content-Range", f"bytes {first}-{last}/{len(DATA)}")])
        elif path == "/echo":
            body = self.body()
            self.reply(200, body, [
                ("X-Received-Method", self.command),
                ("X-Received-Length", self.headers.get("Content-Length", "none")),
                ("X-Received-Content-Type", self.headers.get("Content-Type", "none")),
                ("X-Received-Custom", self.headers.get("X-Custom", "none")),
                ("X-Received-Query", self.path.partition("?")[2])])
        elif path.startswith("/status/"):
            self.body()
            self.reply(int(path[len("/status/"):]), b"status body", [("Retry-After", "7")])
        elif path == "/redirect":
            self.reply(302, b"", [("Location", "/hello")])
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"only ten!!")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/slow":
            time.sleep(4)
            self.reply(200, b"late")
        else:
            self.body()
            self.reply(404, b"no such thing")

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any


def serve(state_file, proxy_py):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy = subprocess.Popen([sys.executable, proxy_py, "user", "secret"],
                             stdout=subprocess.PIPE, text=True)
    proxy_port = int(proxy.stdout.readline())
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed_port = probe.getsockname()[1]
    probe.close()
    signal.signal(signal.SIGTERM, lambda *_: (proxy.terminate(), os._exit(0)))
    cert, key = state_file + ".cert.pem", state_file + ".key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tls_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls_server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls_server.socket = context.wrap_socket(tls_server.socket, server_side=True)
    threading.Thread(target=tls_server.serve_forever, daemon=True).start()
    tmp = state_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]} {proxy_port} {closed_port} "
                f"{tls_server.server_address[1]} {os.getpid()}\n")
    os.replace(tmp, state_file)
    server.serve_forever()


def main():
    command, state_file = sys.argv[1], sys.argv[2]
    if command == "serve":
        serve(state_file, sys.argv[3])
    elif command == "start":
        if os.path.exists(state_file):
            os.remove(state_file)
        with open(os.devnull, "r+b") as null:
            child = subprocess.Popen([sys.executable, __file__, "serve", state_file, sys.argv[3]],
                                     stdin=null, stdout=null, stderr=null,
                                     start_new_session=True, close_fds=True)
        for _ in range(200):
            if os.path.exists(state_file):
                print(open(state_file).read().strip())
                return
            if child.poll() is not None:
                sys.exit(f"http_test_server: the server exited with {child.returncode}")
            time.sleep(0.05)
        child.kill()
        sys.exit("http_test_server: the server did not start within 10 s")
    elif command == "stop":
        try:
            pid = int(open(state_file).read().split()[-1])
        except (OSError, IndexError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for path in (state_file, state_file + ".cert.pem", state_file + ".key.pem"):
            if os.path.exists(path):
                os.remove(path)
    else:
        sys.exit(f"http_test_server: unknown command {command}")


if __name__ == "__main__":
    main()
