#!/usr/bin/env python3
"""A room server written the way course students write them, with three
deliberate mistakes, so that `chat-check server room` has something to catch.

    python3 docs/examples/room_server.py 18000
    chat-check server room --handout-only -- python3 docs/examples/room_server.py {port}

It reads header blocks and payloads however they arrive, keeps the history and
relays texts, announcements and attachments. The mistakes:

1. REPORT names each user with its IP address only, not its port.
2. A full room is checked after the name: a taken name in a full room gets
   "Another user is using this username." instead of the capacity message.
3. Attachments are relayed but never stored in the downloads folder.
"""
import socket
import sys
import threading
import time

FLAGS = ["REPORT_REQUEST_FLAG", "REPORT_RESPONSE_FLAG", "JOIN_REQUEST_FLAG",
         "JOIN_REJECT_FLAG", "JOIN_ACCEPT_FLAG", "NEW_USER_FLAG",
         "QUIT_REQUEST_FLAG", "QUIT_ACCEPT_FLAG", "ATTACHMENT_FLAG"]
REJECT = "The server rejects the join request. "
users = {}  # name -> (socket, (ip, port)), in join order
history = []
lock = threading.Lock()


def message(flag=None, number=0, user="", file="", payload=b"", stamp=""):
    if isinstance(payload, str):
        payload = payload.encode()
    head = "".join(f"{f}: {int(f == flag)}\n" for f in FLAGS)
    field = lambda k, v: f"{k}: {v}\n" if v else f"{k}:\n"
    head += f"NUMBER: {number}\n" + field("USERNAME", user) + field("FILENAME", file)
    head += f"PAYLOAD_LENGTH: {len(payload)}\n" + field("TIMESTAMP", stamp) + "\n"
    return head.encode() + payload


def now():
    return time.strftime("%H:%M:%S")


def read_message(c, buf):
    while b"\n\n" not in buf.replace(b"\r\n", b"\n"):
        chunk = c.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    norm = buf.replace(b"\r\n", b"\n")
    end = norm.index(b"\n\n")
    head = norm[:end].decode(errors="replace")
    # Where the block ends in the raw bytes: count its lines.
    lines = head.count("\n") + 2
    at = 0
    for _ in range(lines):
        at = buf.index(b"\n", at) + 1
    fields = {}
    for line in head.split("\n"):
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    n = int(fields.get("PAYLOAD_LENGTH") or 0)
    rest = buf[at:]
    while len(rest) < n:
        chunk = c.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    flag = next((f for f in FLAGS if fields.get(f) == "1"), None)
    return (flag, fields, rest[:n]), rest[n:]


def to_all(data):
    for s, _ in users.values():
        try:
            s.sendall(data)
        except OSError:
            pass


def announce(flag, name, text):
    stamp = now()
    history.append(f"[{stamp}] Server: {text}\n")
    to_all(message(flag, user=name, payload=text, stamp=stamp))


def handle(c, addr):
    me, buf = None, b""
    while True:
        try:
            got, buf = read_message(c, buf)
        except (OSError, ValueError):
            got = None
        if got is None:
            break
        flag, fields, payload = got
        with lock:
            if flag == "REPORT_REQUEST_FLAG":
                lines = "".join(f"{u} {a[0]}\n" for u, (_, a) in users.items())  # mistake 1
                c.sendall(message("REPORT_RESPONSE_FLAG", number=len(users), payload=lines))
            elif flag == "JOIN_REQUEST_FLAG":
                name = fields.get("USERNAME", "")
                if me:
                    c.sendall(message("JOIN_REJECT_FLAG", payload=REJECT + "You have already joined."))
                elif not name or any(ch.isspace() for ch in name) or name == "Server":
                    c.sendall(message("JOIN_REJECT_FLAG", payload=REJECT + "The username is not valid."))
                elif name in users:  # mistake 2: before the capacity check
                    c.sendall(message("JOIN_REJECT_FLAG", payload=REJECT + "Another user is using this username."))
                elif len(users) >= 3:
                    c.sendall(message("JOIN_REJECT_FLAG", payload=REJECT + "The chatroom has reached its maximum capacity."))
                else:
                    me = name
                    c.sendall(message("JOIN_ACCEPT_FLAG", user=name, payload="".join(history)))
                    users[name] = (c, addr)
                    announce("NEW_USER_FLAG", name, f"{name} joined the chatroom.")
            elif me is None:
                c.sendall(message(user="Server", payload="You must join the chatroom first."))
            elif flag == "QUIT_REQUEST_FLAG":
                announce("QUIT_ACCEPT_FLAG", me, f"{me} left the chatroom.")
                del users[me]
                me = None
                break
            elif flag == "ATTACHMENT_FLAG":
                # Mistake 3: the file is not stored.
                name = fields.get("FILENAME", "").replace("\\", "/").split("/")[-1] or "attachment"
                stamp = now()
                text = payload.decode(errors="replace")
                history.append(f"[{stamp}] {me}: {text[:-1] if text.endswith(chr(10)) else text}\n")
                to_all(message("ATTACHMENT_FLAG", user=me, file=name, payload=payload, stamp=stamp))
            elif flag is None and payload:
                stamp = now()
                text = payload.decode(errors="replace")
                history.append(f"[{stamp}] {me}: {text[:-1] if text.endswith(chr(10)) else text}\n")
                to_all(message(user=me, payload=payload, stamp=stamp))
    with lock:
        if me and me in users:
            del users[me]
            announce("QUIT_ACCEPT_FLAG", me, f"{me} left the chatroom.")
    c.close()


port = int(sys.argv[1]) if len(sys.argv) > 1 else 18000
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
while True:
    c, addr = s.accept()
    threading.Thread(target=handle, args=(c, addr), daemon=True).start()
