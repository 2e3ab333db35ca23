#!/usr/bin/env python3
"""A small lobby client written the way course students write them, with
deliberate mistakes, so that `chat-check client lobby` has something to catch.

    python3 docs/examples/lobby_client.py localhost 8001
    chat-check client lobby -- python3 docs/examples/lobby_client.py {host} {port}

The mistakes:

1. Empty lines typed are sent to the server.
2. When the server closes, it says "Server closed the connection" instead of
   the contract's "Disconnected from server".
3. What the server sends is printed raw, escape sequences and all.
"""
import os
import signal
import socket
import sys
import threading


def on_ctrl_c(then):
    """Runs `then` on Ctrl-C. SIGINT is blocked in every thread (call this
    before starting any) and taken by one thread that waits for it. With
    KeyboardInterrupt instead, a Ctrl-C that lands just before the main
    thread blocks in its stdin read is lost, and the client ignores it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def wait():
        signal.sigwait({signal.SIGINT})
        then()

    threading.Thread(target=wait, daemon=True).start()


def receive(sock):
    while True:
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            sys.stdout.write("Server closed the connection\n")  # mistake 2
            sys.stdout.flush()
            os._exit(0)
        sys.stdout.write(data.decode(errors="replace"))  # mistake 3
        sys.stdout.flush()


def main():
    if len(sys.argv) != 3:
        print("usage: python3 lobby_client.py <host> <port>")
        sys.exit(1)
    on_ctrl_c(lambda: os._exit(0))
    host, port = sys.argv[1], int(sys.argv[2])
    sys.stdout.write("Enter JOIN followed by your username: ")
    sys.stdout.flush()
    try:
        sock = socket.create_connection((host, port))
    except OSError:
        print(f"Unable to connect to {host}:{port}")
        sys.exit(1)
    threading.Thread(target=receive, args=(sock,), daemon=True).start()
    for line in sys.stdin:
        sock.sendall(line.encode())  # mistake 1: empty lines too
    sock.shutdown(socket.SHUT_WR)
    threading.Event().wait()


if __name__ == "__main__":
    main()
