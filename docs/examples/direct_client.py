#!/usr/bin/env python3
"""A direct client written the way course students write them, with three
deliberate mistakes, so that `chat-check client direct` has something to catch.

    python3 docs/examples/direct_client.py localhost 8001
    chat-check client direct --handout-only -- python3 docs/examples/direct_client.py {host} {port}

The mistakes:

1. LIST prints the names on one line, separated by ", ".
2. Extra words after list, logout or exit are ignored instead of getting
   "Invalid command" (`list bob` sends a list).
3. `exit` ends the program with exit status 1.
"""
import os
import socket
import struct
import sys
import threading


def out(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def receive(sock):
    while True:
        head = read_exact(sock, 5)
        if head is None:
            os._exit(0)
        kind, length = struct.unpack(">BI", head)
        body = read_exact(sock, length)
        if body is None:
            os._exit(0)
        if kind == 0x82:
            out({0: "Success", 1: "Failure"}.get(body[0], "Malformed packet"))
        elif kind == 0x81:
            count, at, names = struct.unpack(">H", body[:2])[0], 2, []
            for _ in range(count):
                n = body[at]
                names.append(body[at + 1:at + 1 + n].decode(errors="replace"))
                at += 1 + n
            if names:
                out(", ".join(names))  # mistake 1
        elif kind == 0x83:
            n = body[0]
            who = body[1:1 + n].decode(errors="replace")
            t = struct.unpack(">H", body[1 + n:3 + n])[0]
            out(f"{who}: {body[3 + n:3 + n + t].decode(errors='replace')}")


def frame(kind, body=b""):
    return struct.pack(">BI", kind, len(body)) + body


host, port = sys.argv[1], int(sys.argv[2])
try:
    sock = socket.create_connection((host, port))
except OSError:
    out(f"Unable to connect to {host}:{port}")
    sys.exit(1)
threading.Thread(target=receive, args=(sock,), daemon=True).start()
for line in sys.stdin:
    line = line.rstrip("\n")
    words = line.split(" ")
    cmd = words[0]
    if not line.strip():
        continue
    if cmd == "login":
        if len(words) != 2 or not words[1] or len(words[1].encode()) > 20:
            out("Bad username")
            continue
        name = words[1].encode()
        sock.sendall(frame(0x01, bytes([len(name)]) + name))
    elif cmd == "list":  # mistake 2: extra words not checked
        sock.sendall(frame(0x02))
    elif cmd == "logout":
        sock.sendall(frame(0x04))
    elif cmd == "sendto":
        parts = line.split(" ", 2)
        if len(parts) < 3 or not parts[1] or not parts[2] or len(parts[1].encode()) > 20:
            out("Bad username")
            continue
        name, text = parts[1].encode(), parts[2].encode()
        if len(text) > 65535:
            out("Bad message")
            continue
        sock.sendall(frame(0x03, bytes([len(name)]) + name + struct.pack(">H", len(text)) + text))
    elif cmd == "exit":
        sock.close()
        sys.exit(1)  # mistake 3
    else:
        out("Invalid command")
sock.shutdown(socket.SHUT_WR)
threading.Event().wait()
