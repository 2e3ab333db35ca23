#!/usr/bin/env python3
"""A bridge rendezvous server written the way course students write them,
with three deliberate mistakes, so that `chat-check server bridge` has
something to catch.

    python3 docs/examples/bridge_server.py --port=8001
    chat-check server bridge --handout-only -- python3 docs/examples/bridge_server.py --port={port}

It answers each request on its own connection and pairs clients as the
course's server does. The mistakes:

1. REGACK leaves out the `Status: registered` header.
2. A BRIDGE with nobody to pair with gets a bare `BRIDGEACK` block, without
   the empty clientID, IP and Port headers.
3. `/info` on stdin is not implemented.
"""
import signal
import socket
import sys
import threading

registry = {}  # clientID -> (ip, port), in order of first registration
partner = {}  # clientID -> clientID
waiting = []  # clientIDs that bridged with nobody to pair with
lock = threading.Lock()


def block(kind, headers):
    return (kind + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


def read_block(c):
    data = b""
    while b"\n\n" not in data.replace(b"\r\n", b"\n"):
        chunk = c.recv(4096)
        if not chunk:
            return None
        data += chunk
    lines = data.replace(b"\r\n", b"\n").decode(errors="replace").split("\n")
    headers = {}
    for line in lines[1:]:
        if ": " in line:
            k, v = line.split(": ", 1)
            headers[k] = v
    return lines[0], headers


def answer(kind, h):
    cid = h.get("clientID", "")
    if kind == "REGISTER":
        ip, port = h.get("IP", ""), h.get("Port", "")
        registry[cid] = (ip, port)
        print(f"REGISTER: {cid} from {ip}:{port} received", flush=True)
        return block("REGACK", [("clientID", cid), ("IP", ip), ("Port", port)])  # mistake 1
    if kind == "BRIDGE":
        peer = partner.get(cid)
        if peer is None and cid in registry:
            others = [w for w in waiting if w != cid] or [
                o for o in registry if o != cid and o not in partner
            ]
            if others:
                peer = others[0]
                if peer in waiting:
                    waiting.remove(peer)
                partner[cid], partner[peer] = peer, cid
            elif cid not in waiting:
                waiting.append(cid)
        if peer is None:
            ip, port = registry.get(cid, ("", ""))
            print(f"BRIDGE: {cid} {ip}:{port}", flush=True)
            return b"BRIDGEACK\r\n\r\n"  # mistake 2
        (ip, port), (pip, pport) = registry[cid], registry[peer]
        print(f"BRIDGE: {cid} {ip}:{port} {peer} {pip}:{pport}", flush=True)
        return block("BRIDGEACK", [("clientID", peer), ("IP", pip), ("Port", pport)])
    return None


def handle(c):
    try:
        got = read_block(c)
        if got:
            with lock:
                out = answer(*got)
            if out:
                c.sendall(out)
                c.recv(1)  # the client closes after the answer
    except OSError:
        pass
    c.close()


port = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith(("--port=", "-p="))), None)
if port is None:
    print("usage: bridge_server.py --port=PORT")
    sys.exit(2)
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(port)))
s.listen()
print(f"Server listening on 127.0.0.1:{port}", flush=True)
# Mistake 3: stdin is never read, so /info does nothing.
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
