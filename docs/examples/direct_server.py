#!/usr/bin/env python3
"""A direct server written the way course students write them, with three
deliberate mistakes, so that `chat-check server direct` has something to catch.

    python3 docs/examples/direct_server.py 8001
    chat-check server direct --handout-only -- python3 docs/examples/direct_server.py {port}

It reads whole frames (type, 4-byte length, body) however they arrive, and
answers every frame once. The mistakes:

1. A name holding a space or a TAB is accepted (only its length is checked).
2. LIST gives the names sorted, not in login order.
3. logout answers Success and forgets that the connection is logged in, but
   leaves the name in the user table: it is still listed and still taken.
"""
import socket
import struct
import sys
import threading

users = {}  # name -> socket (kept in login order by dict)
lock = threading.Lock()
OK, FAILURE, MALFORMED = 0, 1, 2


def frame(kind, body):
    return struct.pack(">BI", kind, len(body)) + body


def response(code):
    return frame(0x82, bytes([code]))


def read_exact(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def string(body, at, width):
    n = body[at] if width == 1 else struct.unpack(">H", body[at:at + 2])[0]
    at += width
    if at + n > len(body):
        raise ValueError("overrun")
    return body[at:at + n].decode(), at + n


def handle(c):
    me = None
    while True:
        head = read_exact(c, 5)
        if head is None:
            break
        kind, length = struct.unpack(">BI", head)
        if length > 70000:
            c.sendall(response(MALFORMED))
            break
        body = read_exact(c, length)
        if body is None:
            break
        with lock:
            try:
                if kind == 0x01:
                    name, end = string(body, 0, 1)
                    if end != len(body):
                        raise ValueError("left over")
                    # Mistake 1: no whitespace check.
                    if me or name in users or not 1 <= len(name.encode()) <= 20:
                        out = response(FAILURE)
                    else:
                        me = name
                        users[name] = c
                        out = response(OK)
                elif kind == 0x02:
                    names = sorted(users)  # mistake 2
                    body = struct.pack(">H", len(names))
                    for n in names:
                        b = n.encode()
                        body += bytes([len(b)]) + b
                    out = frame(0x81, body)
                elif kind == 0x03:
                    to, at = string(body, 0, 1)
                    text, end = string(body, at, 2)
                    if end != len(body):
                        raise ValueError("left over")
                    if me is None or to not in users:
                        out = response(FAILURE)
                    else:
                        n, t = me.encode(), text.encode()
                        relay = frame(0x83, bytes([len(n)]) + n + struct.pack(">H", len(t)) + t)
                        users[to].sendall(relay)
                        out = response(OK)
                elif kind == 0x04:
                    if me is None:
                        out = response(FAILURE)
                    else:
                        me = None  # mistake 3: the name stays in `users`
                        out = response(OK)
                else:
                    out = response(MALFORMED)
            except (ValueError, IndexError, struct.error, UnicodeDecodeError):
                out = response(MALFORMED)
            c.sendall(out)
    with lock:
        if me:
            users.pop(me, None)
    c.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
