#!/usr/bin/env python3
"""A small channels server written the way course students write them, with
three deliberate mistakes, so that `chat-check` has something to catch.

    python3 docs/examples/channels_server.py 55555
    chat-check server channels --handout-only -- python3 docs/examples/channels_server.py {port}

The mistakes (each is what some student's server really did):

1. It takes each recv() of up to 200 bytes as one whole record, so a record
   that arrives in pieces is read as several (the handout's
   client_split_messages.py exists to catch exactly this).
2. /list separates the names with ", " instead of newlines.
3. A client that disconnects is not announced to its channel.
"""
import socket
import sys
import threading

RECORD = 200
clients = {}  # socket -> name
channel_of = {}  # name -> channel
channels = []  # in creation order
lock = threading.Lock()

INVALID_CONTROL = "{} is not a valid control message. Valid messages are /create, /list, and /join."
NO_CHANNEL_EXISTS = "No channel named {0} exists. Try '/create {0}'?"
JOIN_REQUIRES = "/join command must be followed by the name of a channel to join."
CREATE_REQUIRES = "/create command must be followed by the name of a channel to create"
EXISTS = "Room {} already exists, so cannot be created."
NOT_IN_CHANNEL = "Not currently in any channel. Must join a channel before sending messages."
BAD_NAME = "Name {} is not valid or is already in use."


def send(sock, text):
    data = text.encode()[:RECORD]
    try:
        sock.sendall(data + b" " * (RECORD - len(data)))
    except OSError:
        pass


def members(channel, but=None):
    return [s for s, n in clients.items() if channel_of.get(n) == channel and s is not but]


def move(sock, name, channel):
    old = channel_of.get(name)
    if old is not None:
        for s in members(old, sock):
            send(s, f"{name} has left")
    channel_of[name] = channel
    if channel is not None:
        for s in members(channel, sock):
            send(s, f"{name} has joined")


def handle(sock):
    name = None
    try:
        while True:
            data = sock.recv(RECORD)  # mistake 1: a recv is taken as a record
            if not data:
                return
            text = data.decode(errors="replace").rstrip()
            with lock:
                if name is None:
                    if not text or len(text.encode()) > 32 or any(c.isspace() for c in text) \
                            or text in clients.values():
                        send(sock, BAD_NAME.format(text))
                        return
                    name = text
                    clients[sock] = name
                    continue
                if text.startswith("/"):
                    words = text.split()
                    command, arg = words[0], (words[1] if len(words) > 1 else None)
                    if command == "/list":
                        if channels:
                            send(sock, ", ".join(channels))  # mistake 2
                    elif command == "/create":
                        if arg is None:
                            send(sock, CREATE_REQUIRES)
                        elif arg in channels:
                            send(sock, EXISTS.format(arg))
                        else:
                            channels.append(arg)
                            move(sock, name, None)
                            channel_of[name] = arg
                    elif command == "/join":
                        if arg is None:
                            send(sock, JOIN_REQUIRES)
                        elif arg not in channels:
                            send(sock, NO_CHANNEL_EXISTS.format(arg))
                        elif channel_of.get(name) != arg:
                            move(sock, name, arg)
                    else:
                        send(sock, INVALID_CONTROL.format(command))
                elif channel_of.get(name) is None:
                    send(sock, NOT_IN_CHANNEL)
                else:
                    for s in members(channel_of[name], sock):
                        send(s, f"[{name}] {text}")
    except OSError:
        pass
    finally:
        with lock:
            clients.pop(sock, None)
            if name is not None:
                channel_of.pop(name, None)  # mistake 3: nobody is told
        sock.close()


def main():
    if len(sys.argv) != 2:
        print("usage: python3 channels_server.py <port>")
        sys.exit(2)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(sys.argv[1])))
    server.listen(64)
    while True:
        sock, _ = server.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
