#!/usr/bin/env python3
"""A typical student lobby server: JOIN, LIST and BCST work; MESG and QUIT do not.

Used by tests/checker.rs and the README: `chat-check server lobby --handout-only
-- python3 docs/examples/lobby_typical_server.py {port}` must FAIL exactly the
cases covering its three mistakes and PASS the rest.

Habits (not mistakes: the checker reads and writes the way such programs do):
  - one recv() is one command (what arrives together is one command);
  - replies carry no line end.

Mistakes (deliberate):
  1. MESG is not implemented: it gets "Unknown Message", whoever sends it;
  2. QUIT is answered "bye" instead of "<name> is quitting the chat server"
     (the user is removed and the others are told "<name> left", as they
     should be);
  3. every line is strip()ped, so a BCST text loses its trailing spaces.
"""
import socket
import sys
import threading

users = {}  # name -> socket, in join order
lock = threading.Lock()
UNREGISTERED = "Unregistered User. Use JOIN <username> to register."


def send(c, text):
    try:
        c.send(text.encode())
    except OSError:
        pass


def handle(c):
    fd = c.fileno()
    name = None
    while True:
        try:
            d = c.recv(1024)
        except OSError:
            break
        if not d:
            break
        line = d.decode(errors="replace").strip()  # mistake 3
        print(f"fd {fd}: {line}", flush=True)
        with lock:
            if line.startswith("JOIN "):
                if name:
                    send(c, f"Already Registered as {name}")
                elif len(users) >= 10:
                    send(c, "Too Many Users")
                    break
                elif line[5:] in users:
                    send(c, "Username Taken")
                else:
                    name = line[5:]
                    for s in users.values():
                        send(s, f"{name} joined!")
                    users[name] = c
                    send(c, f"{name} joined!")
            elif line in ("LIST", "QUIT") or line.startswith(("BCST ", "MESG ")):
                if line == "QUIT":
                    send(c, "bye")  # mistake 2
                    break
                if not name:
                    send(c, UNREGISTERED if not line.startswith("MESG") else "Unknown Message")
                elif line == "LIST":
                    send(c, "\n".join(users))
                elif line.startswith("BCST "):
                    send(c, f"{name} is sending a broadcast")
                    for u, s in users.items():
                        if u != name:
                            send(s, f"{name}: {line[5:]}")
                else:
                    send(c, "Unknown Message")  # mistake 1: no MESG
            else:
                send(c, "Unknown Message")
    with lock:
        if name and users.get(name) is c:
            del users[name]
            for s in users.values():
                send(s, f"{name} left")
    print(f"fd {fd}: closed", flush=True)
    c.close()


if len(sys.argv) != 2:
    print("usage: lobby_typical_server.py PORT")
    sys.exit(2)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
