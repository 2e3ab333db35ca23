#!/usr/bin/env python3
"""A small lobby server written the way course students write them, with
three deliberate mistakes, so that `chat-check` has something to catch.

    python3 docs/examples/lobby_server.py 8001
    chat-check server lobby --handout-only -- python3 docs/examples/lobby_server.py {port}

Like most real course servers it treats each recv() as a command (or as
several, when they are separated by line ends) and answers without line
ends. The mistakes (each is what some student's server really did):

1. BCST is relayed to the sender as well (the handout's own sample window
   shows "Alice: Hello" under Alice's broadcast).
2. LIST is answered before the connection has joined.
3. A second JOIN from a registered user is dropped without a reply.

Options: --max-users N (default 10).
"""
import socket
import sys
import threading

MAX_USERS = 10
users = {}  # name -> socket, in join order
lock = threading.Lock()


def send(sock, text):
    try:
        sock.sendall(text.encode())
    except OSError:
        pass


def others(name):
    return [s for n, s in users.items() if n != name]


def handle(conn):
    fd = conn.fileno()
    print(f"fd {fd}: connection", flush=True)
    name = None
    try:
        while True:
            data = conn.recv(4096)
            if not data:
                break
            text = data.decode(errors="replace")
            commands = text.split("\n") if "\n" in text else [text]
            for line in commands:
                line = line.rstrip("\r")
                if not line:
                    continue
                print(f"fd {fd}: {line[:80]}", flush=True)
                if line.startswith("JOIN "):
                    wanted = line[5:]
                    if name is not None:
                        continue  # mistake 3: no reply
                    if not wanted.isalnum() or len(wanted) > 32:
                        send(conn, "Invalid Username")
                        continue
                    with lock:
                        if len(users) >= MAX_USERS:
                            send(conn, "Too Many Users")
                            print(f"fd {fd}: too many users", flush=True)
                            return
                        if wanted in users:
                            send(conn, "Username Taken")
                            continue
                        name = wanted
                        users[name] = conn
                        for s in users.values():
                            send(s, f"{name} joined!")
                elif line == "LIST":
                    # mistake 2: no registration check
                    with lock:
                        send(conn, "\n".join(users))
                elif line.startswith("MESG ") and name is None:
                    send(conn, "Unregistered User. Use JOIN <username> to register.")
                elif line.startswith("BCST ") and name is None:
                    send(conn, "Unregistered User. Use JOIN <username> to register.")
                elif line.startswith("MESG "):
                    parts = line.split(" ", 2)
                    if len(parts) < 3 or not parts[2]:
                        send(conn, "Unknown Message")
                        continue
                    with lock:
                        target = users.get(parts[1])
                    if target is None:
                        send(conn, "Unknown Recipient")
                    else:
                        send(target, f"{name}: {parts[2]}")
                elif line.startswith("BCST ") and len(line) > 5:
                    send(conn, f"{name} is sending a broadcast")
                    with lock:
                        for s in users.values():  # mistake 1: the sender too
                            send(s, f"{name}: {line[5:]}")
                elif line == "QUIT":
                    if name is None:
                        send(conn, "Goodbye")
                    else:
                        send(conn, f"{name} is quitting the chat server")
                    return
                else:
                    send(conn, "Unknown Message")
    except OSError:
        pass
    finally:
        if name is not None:
            with lock:
                users.pop(name, None)
                for s in users.values():
                    send(s, f"{name} left")
        conn.close()
        print(f"fd {fd}: closed", flush=True)


def main():
    global MAX_USERS
    args = sys.argv[1:]
    if "--max-users" in args:
        i = args.index("--max-users")
        MAX_USERS = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        print("usage: python3 lobby_server.py <svr_port>")
        sys.exit(1)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(args[0])))
    server.listen(64)
    print("The Chat Server Started", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
