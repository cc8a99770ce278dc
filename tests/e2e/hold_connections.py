#!/usr/bin/env python3
"""Holds many TCP connections to a server, as a hostile local process would.

hold_connections.py PORT COUNT idle STOPFILE
    Opens COUNT connections that send nothing, prints "open COUNT", and holds
    them until STOPFILE exists; then prints "closed-by-server N" and exits.
hold_connections.py PORT COUNT slow STOPFILE
    Opens COUNT connections that send a request header one byte at a time
    (slowloris) and never finish it. Exits 0 printing "closed-by-server COUNT"
    once the server has closed every one of them, 1 if STOPFILE appears
    first.
"""
import os
import socket
import sys
import time

port, count, mode, stopfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
print("open", len(socks), flush=True)

closed = set()


def poll_closed():
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            data = s.recv(4096)
            if data == b"":
                closed.add(i)
        except BlockingIOError:
            pass
        except OSError:
            closed.add(i)


header = b"GET /v1/machine HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100000
sent = 0
while not os.path.exists(stopfile):
    if mode == "slow":
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.send(header[sent:sent + 1])
            except OSError:
                closed.add(i)
        sent += 1
    poll_closed()
    if mode == "slow" and len(closed) == count:
        print("closed-by-server", len(closed), flush=True)
        sys.exit(0)
    time.sleep(0.2)
poll_closed()
print("closed-by-server", len(closed), flush=True)
sys.exit(0 if mode == "idle" else 1)
